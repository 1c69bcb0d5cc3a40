"""``models``: installed models and their cards, the default-model rule, the model index and installing a model."""

from __future__ import annotations

from ..schema import Option, Verb

#: The bundled models folder may hold this pointer file: ``{"default": "<model name>"}``.
DEFAULT_POINTER = "default.json"


def default_model_name(pointer: dict | None, installed: list[tuple[str, dict]]) -> str | None:
    """The one rule for the default model. The backend applies it; the plugin reads the result.

    Args:
        pointer: the parsed ``models/default.json`` when it exists, else None.
        installed: ``(folder name, card)`` of the installed models, in model-folder order.

    Returns:
        ``pointer["default"]`` when there is a pointer, else the first model whose card says
        ``"default": true``, else None (no default model is installed).

    Raises:
        KeyError, TypeError: the pointer does not name a model.
    """
    if pointer is not None:
        return str(pointer["default"])
    return next((name for name, card in installed if card.get("default") is True), None)


VERB = Verb(
    name="models",
    help="list installed models with their cards (JSON), show one model's card by name or path, list the models "
         "that can be downloaded (--available) or install one (--install NAME [--from FILE_OR_URL])",
    options=(
        Option("model", "model", "Model", "one model's name or folder; omit to list every installed model",
               positional=True, metavar="NAME|PATH"),
        Option("verify", "bool", "Verify checksums", "also check every model file's size and SHA-256 against "
               "its card", default=False),
        Option("available", "bool", "List downloadable models", "list the models of the model index, with "
               "whether each is installed", default=False),
        Option("install", "str", "Install model", "download a model of the index (or from a file or URL), verify "
               "its SHA-256 and install it into the user model folder", metavar="NAME"),
        Option("source", "str", "Install from file or URL", "with install: the model archive (.zip) to install "
               "instead of the index's URL", flag="--from", metavar="FILE_OR_URL"),
        Option("index", "str", "Model index", "model index to use (default $S1RM_MODEL_INDEX, else the index "
               "shipped in models/)", metavar="FILE_OR_URL"),
    ),
    result_keys=("model_dirs", "verified", "models", "default", "path", "card", "index", "name", "version",
                 "sha256", "bytes", "verified_against", "replaced"),
)
