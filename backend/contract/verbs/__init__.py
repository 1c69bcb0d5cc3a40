"""One module per verb; each defines ``VERB`` (a :class:`backend.contract.schema.Verb`)."""
