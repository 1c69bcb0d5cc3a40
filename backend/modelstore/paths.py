"""Where model folders live and how a name or a path becomes a folder."""

from __future__ import annotations

import os
from pathlib import Path

from backend.errors import UserError

CARD_FILE = "card.json"
REPO_ROOT = Path(__file__).resolve().parents[2]
#: Models shipped with the plugin; read-only for every verb except the pretraining script.
BUNDLED_DIR = REPO_ROOT / "models"
USER_DIR_ENV = "S1RM_MODEL_DIR"


def user_model_dir() -> Path:
    """Folder for fine-tuned models: ``$S1RM_MODEL_DIR`` or ``~/.local/share/s1ricemapper/models``."""
    env = os.environ.get(USER_DIR_ENV)
    return Path(env).expanduser() if env else Path.home() / ".local" / "share" / "s1ricemapper" / "models"


def model_dirs() -> list[Path]:
    """Folders searched for models by name: bundled first, then the user's."""
    return [BUNDLED_DIR, user_model_dir()]


def is_bundled(folder: Path) -> bool:
    try:
        return Path(folder).resolve().parent == BUNDLED_DIR.resolve()
    except OSError:
        return False


def installed_folders() -> list[Path]:
    """Every folder holding a ``card.json`` in :func:`model_dirs` (first occurrence of a name wins)."""
    seen, folders = set(), []
    for root in model_dirs():
        if not root.is_dir():
            continue
        for sub in sorted(root.iterdir()):
            if sub.name not in seen and (sub / CARD_FILE).is_file():
                seen.add(sub.name)
                folders.append(sub)
    return folders


def resolve(name_or_path: str | os.PathLike) -> Path:
    """Model folder for a path to a folder (or its card.json/model.onnx) or an installed model's name."""
    candidate = Path(name_or_path).expanduser()
    if candidate.is_file() and candidate.parent.joinpath(CARD_FILE).is_file():
        return candidate.parent
    if candidate.is_dir():
        if not (candidate / CARD_FILE).is_file():
            raise UserError(f"model folder {candidate} has no {CARD_FILE}; point to a folder written by "
                            "save_model or pick a model from `python -m backend models`")
        return candidate
    name = str(name_or_path)
    for folder in installed_folders():
        if folder.name == name:
            return folder
    names = ", ".join(f.name for f in installed_folders()) or "none installed"
    raise UserError(f"model {name!r} not found as a path nor by name in {', '.join(map(str, model_dirs()))}; "
                    f"available models: {names}")
