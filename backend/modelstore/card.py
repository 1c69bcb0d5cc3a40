"""Model cards: the JSON description beside a model's files, file checksums, and input checks.

A card's *contract* fields (:data:`CONTRACT_FIELDS`) describe what the files compute; they are embedded
in the ONNX metadata and must never change after saving. ``metrics``, ``training`` and ``threshold`` may
be updated later with :func:`update_card` (for example by a benchmark).
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Iterable

from backend.atomic import partial_path
from backend.errors import UserError
from backend.modelstore.paths import CARD_FILE, confined_file, installed_folders, is_bundled, resolve

CARD_METADATA_KEY = "s1ricemapper_card"
PRODUCER = "s1ricemapper"
CONTRACT_FIELDS = ("name", "version", "arch", "arch_kwargs", "fusion", "inputs", "classes")
REQUIRED_FIELDS = CONTRACT_FIELDS + ("files",)
CLASSES = {"0": "other", "1": "rice"}
COMPOSITE = "linear-mean-to-dB"
DEFAULT_THRESHOLD = 0.5  # rice where the probability reaches it, when a card names no threshold of its own


def card_threshold(card: dict) -> float:
    """The probability threshold a card was calibrated with (:data:`DEFAULT_THRESHOLD` when it names none).

    One reading for ``map`` and the experiments, so a bench never thresholds differently from the product.
    """
    return float(card.get("threshold") or DEFAULT_THRESHOLD)


def new_card(**fields: Any) -> dict:
    """Card skeleton with defaults; ``fields`` override top-level entries."""
    card = {"name": "", "version": "1.0.0", "arch": "", "arch_kwargs": {},
            "fusion": {"scheme": None, "method": None},
            "inputs": {"polarizations": [], "steps": 0, "season_days": None, "units": "dB", "normalization": {},
                       "size_multiple": 1, "composite": COMPOSITE},
            "classes": dict(CLASSES), "threshold": DEFAULT_THRESHOLD, "training": {}, "metrics": {}, "files": {},
            "size_bytes": 0, "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "base_model": None}
    card.update(fields)
    return card


def contract(card: dict) -> dict:
    """The fields that must agree between card.json and the embedded ONNX copy (JSON-normalised)."""
    return json.loads(json.dumps({k: card.get(k) for k in CONTRACT_FIELDS}))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_entries(folder: Path, names: Iterable[str]) -> dict[str, dict]:
    paths = {n: confined_file(folder, n) for n in sorted(names)}
    return {n: {"sha256": sha256_file(p), "bytes": p.stat().st_size} for n, p in paths.items()}


def verify_files(folder: Path, card: dict) -> None:
    """Every file listed in the card is inside ``folder`` and has its size and SHA-256; else a UserError."""
    for name, entry in card.get("files", {}).items():
        path = confined_file(folder, name)
        if not isinstance(entry, dict) or not {"bytes", "sha256"} <= set(entry):
            raise UserError(f"model card {Path(folder) / CARD_FILE} lacks the size or SHA-256 of {name!r}; "
                            "re-save the model")
        if not path.is_file():
            raise UserError(f"model file {path} is missing; reinstall or re-save model {card.get('name')!r}")
        size = path.stat().st_size
        if size != entry["bytes"]:
            raise UserError(f"model file {path} has {size} bytes but its card says {entry['bytes']} "
                            "(truncated or replaced); reinstall or re-save the model")
        if sha256_file(path) != entry["sha256"]:
            raise UserError(f"model file {path} does not match the SHA-256 in {Path(folder) / CARD_FILE} "
                            "(corrupted or tampered with); reinstall or re-save the model")


def read_card(folder: Path) -> dict:
    path = Path(folder) / CARD_FILE
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read model card {path}: {exc}; reinstall or re-save the model") from exc
    missing = [k for k in REQUIRED_FIELDS if not isinstance(card, dict) or k not in card]
    if missing:
        raise UserError(f"model card {path} lacks field(s) {', '.join(missing)}; re-save the model")
    if not isinstance(card["files"], dict):
        raise UserError(f"model card {path} has no valid 'files' table; re-save the model")
    for name in card["files"]:  # cheap (no hashing), so even unverified reads never name outside files
        confined_file(folder, name)
    threshold = card.get("threshold")
    if threshold is not None and not (isinstance(threshold, (int, float)) and 0.0 < threshold < 1.0):
        raise UserError(f"model card {path} has threshold {threshold!r}; a probability threshold must lie "
                        "between 0 and 1 (exclusive): fix the card or re-save the model")
    return card


def load_card(name_or_path: str | os.PathLike, verify: bool = True) -> dict:
    """Card of a model given by name or path; ``verify`` also checks every file's size and checksum."""
    folder = resolve(name_or_path)
    card = read_card(folder)
    if verify:
        verify_files(folder, card)
    return card


def check_inputs(card: dict, available_pols: Iterable[str]) -> None:
    """UserError if the scene lacks a polarization the model needs (e.g. VV model, VH-only scene)."""
    available = {str(p).upper() for p in available_pols}
    needed = card["inputs"]["polarizations"]
    missing = [p for p in needed if p not in available]
    if missing:
        have = ", ".join(sorted(available)) or "none"
        raise UserError(f"model {card.get('name')!r} needs polarization(s) {', '.join(missing)} but the scene "
                        f"provides only {have}; choose a model for {have} (e.g. fusion scheme "
                        f"'{sorted(available)[0].lower() if available else 'vh'}') or add the missing rasters")


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = partial_path(path)  # named by process id, so a killed writer's leftover is swept later
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=False)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def update_card(name_or_path: str | os.PathLike, updates: dict) -> dict:
    """Change non-contract fields (metrics, training, threshold, ...) of a saved card in place."""
    folder = resolve(name_or_path)
    card = read_card(folder)
    frozen = [k for k in updates if k in CONTRACT_FIELDS or k in ("files", "size_bytes")]
    if frozen:
        raise UserError(f"card fields {frozen} describe the saved files and cannot be updated; "
                        "save the model again instead")
    card.update(updates)
    write_json_atomic(folder / CARD_FILE, card)
    return card


def summary(folder: Path, card: dict) -> dict:
    return {"name": card["name"], "path": str(folder), "bundled": is_bundled(folder), "version": card["version"],
            "arch": card["arch"], "fusion": card["fusion"], "inputs": card["inputs"],
            "threshold": card.get("threshold"), "metrics": card.get("metrics", {}),
            "size_bytes": card.get("size_bytes"), "base_model": card.get("base_model")}


def list_models() -> list[dict]:
    """Summary of every installed model; a broken folder is listed with its ``error`` instead."""
    out = []
    for folder in installed_folders():
        try:
            out.append(summary(folder, read_card(folder)))
        except UserError as err:
            out.append({"name": folder.name, "path": str(folder), "error": str(err)})
    return out
