"""Where model folders live and how a name or a path becomes a folder."""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

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
    """Every folder holding a ``card.json`` in :func:`model_dirs` (first occurrence of a name wins).

    Hidden folders are temporaries of a model being written (or left by a killed writer), never models.
    """
    seen, folders = set(), []
    for root in model_dirs():
        if not root.is_dir():
            continue
        for sub in sorted(root.iterdir()):
            if not sub.name.startswith(".") and sub.name not in seen and (sub / CARD_FILE).is_file():
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


_DRIVE = re.compile(r"^[A-Za-z]:")


def confined_file(folder: str | os.PathLike, name: str) -> Path:
    """Path of the file ``name`` that a model card lists, guaranteed to lie inside ``folder``.

    A card is data from wherever the model came from, so each name it lists must be a plain file name
    (no ``/``, ``\\``, ``..``, drive letter or absolute path) and, once symlinks are resolved, must
    still be inside the model folder. Every reader of model files (map, finetune, models --verify,
    export, the model installer) goes through here, so a card cannot make the backend read, hash or
    copy a file elsewhere.

    Args:
        folder: The model folder holding ``card.json``.
        name: A file name as listed in the card's ``files``.

    Returns:
        ``folder / name`` (not resolved, so messages show the path the user knows).

    Raises:
        UserError: The name is not a plain name, or it resolves outside ``folder`` (e.g. a symlink).
    """
    base = Path(folder)
    card = base / CARD_FILE
    plain = (isinstance(name, str) and name not in ("", ".", "..") and "/" not in name and "\\" not in name
             and "\0" not in name and not _DRIVE.match(name) and PurePosixPath(name).name == name)
    if not plain:
        raise UserError(f"model card {card} lists file {name!r}, which is not a plain file name inside the "
                        "model folder; the card is damaged or malicious: reinstall the model from a trusted "
                        "source or re-save it")
    path = base / name
    try:
        inside = path.resolve().is_relative_to(base.resolve())
    except (OSError, RuntimeError) as exc:  # symlink loops
        raise UserError(f"model file {path} cannot be resolved ({exc}); reinstall or re-save the model") from exc
    if not inside:
        raise UserError(f"model file {path} is a link leading outside its model folder {base}; refusing to "
                        "read it: reinstall the model from a trusted source or re-save it")
    return path
