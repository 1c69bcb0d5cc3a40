"""One module per CLI verb; :mod:`backend.cli` discovers them. See ``backend/cli.py`` for the contract."""
