"""Write a whole model folder atomically: a hidden temporary folder is filled, then renamed into place.

A reader never sees a half-written model: either the old folder, or the complete new one.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable

from backend.atomic import PartialWatcher, partial_path, sweep_stale
from backend.errors import UserError
from backend.modelstore.card import CARD_FILE, file_entries, write_json_atomic
from backend.modelstore.onnx_io import ONNX_FILE, embed_card
from backend.modelstore.paths import is_bundled
from backend.writers.geotiff import disk_full_error

FileWriter = Callable[[Path], None]


def check_target(folder: Path, overwrite: bool, replace_bundled: bool) -> None:
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{folder} exists and is not a folder; choose another model folder")
    if folder.exists() and any(folder.iterdir()):
        if is_bundled(folder) and not replace_bundled:
            raise UserError(f"{folder} is a bundled model and is never overwritten; save under another name "
                            "(fine-tuned models go to the user model folder)")
        if not overwrite:
            raise UserError(f"model folder {folder} already exists; pass overwrite to replace it or choose "
                            "another name")


def write_model_folder(folder: str | os.PathLike, card: dict, writers: dict[str, FileWriter],
                       overwrite: bool = False, replace_bundled: bool = False) -> dict:
    """Create ``folder`` with one file per ``writers`` entry (name -> function writing that path).

    The card (without ``files``/``size_bytes``) is embedded in ``model.onnx`` if there is one; then
    checksums and sizes are added and ``card.json`` is written. Returns the final card.
    """
    folder = Path(folder).expanduser()
    check_target(folder, overwrite, replace_bundled)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        sweep_stale(folder.parent)
        tmp = partial_path(folder)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
    except OSError as exc:
        raise UserError(f"cannot write model folder {folder}: {exc.strerror}; choose a writable folder") from exc
    try:
        with PartialWatcher(folder.parent):
            return _fill_and_swap(tmp, folder, card, writers)
    except Exception as exc:  # a full disk while writing the weights (safetensors' own error type) or the ONNX
        full = disk_full_error(folder, exc)
        if full is not None:
            raise full from exc
        raise


def _fill_and_swap(tmp: Path, folder: Path, card: dict, writers: dict[str, FileWriter]) -> dict:
    """Write every file into ``tmp``, add checksums to the card, then rename ``tmp`` to ``folder``."""
    try:
        for name, write in writers.items():
            write(tmp / name)
        core = {k: v for k, v in card.items() if k not in ("files", "size_bytes")}
        if ONNX_FILE in writers:
            embed_card(tmp / ONNX_FILE, core)
        files = file_entries(tmp, writers)
        final_card = {**core, "files": files, "size_bytes": sum(f["bytes"] for f in files.values())}
        write_json_atomic(tmp / CARD_FILE, final_card)
        _swap_into_place(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final_card


def _swap_into_place(tmp: Path, folder: Path) -> None:
    old = None
    if folder.exists():
        old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
        os.replace(folder, old)
    os.replace(tmp, folder)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
