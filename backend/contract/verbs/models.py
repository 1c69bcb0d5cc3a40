"""``models``: installed models and their cards, the model index, and installing a model on demand."""

from __future__ import annotations

from ..schema import Option, Verb

VERB = Verb(
    name="models",
    help="list installed models with their cards (JSON), show one model's card by name or path, list the models "
         "that can be downloaded (--available) or install one (--install NAME [--from FILE_OR_URL])",
    options=(
        Option("model", "str", "Model", "one model's name or folder; omit to list every installed model",
               metavar="NAME|PATH", positional=True),
        Option("verify", "bool", "Verify checksums", "also check every model file's size and SHA-256 against its "
               "card", default=False),
        Option("available", "bool", "List downloadable models", "list the models of the model index, with "
               "whether each is installed", default=False),
        Option("install", "str", "Install model", "download a model of the index (or from a file or URL), verify "
               "its SHA-256 and install it into the user model folder", metavar="NAME"),
        Option("source", "str", "Install from file or URL", "with install: the model archive (.zip) to install "
               "instead of the index's URL", flag="--from", metavar="FILE_OR_URL"),
        Option("index", "str", "Model index", "model index to use (default $S1RM_MODEL_INDEX, else the index "
               "shipped in models/)", metavar="FILE_OR_URL"),
    ),
    result_keys=("model_dirs", "verified", "models", "index", "path", "card", "name", "version", "sha256", "bytes",
                 "verified_against", "replaced"),
)
