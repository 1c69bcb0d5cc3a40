"""``models``: list the installed models with their cards, or show one card; the default-model rule."""

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
    help="list installed models with their cards (JSON), or show one model's card by name or path",
    options=(
        Option("model", "model", "Model", "one model's name or folder; omit to list every installed model",
               positional=True, metavar="NAME|PATH"),
        Option("verify", "bool", "Verify checksums", "also check every model file's size and SHA-256 against "
               "its card", default=False),
    ),
    result_keys=("model_dirs", "verified", "models", "default", "path", "card"),
)
