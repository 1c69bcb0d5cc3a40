"""``models``: list the installed models with their cards, or show one card (by name or path)."""

from __future__ import annotations

import argparse

from backend.progress import Reporter


def run(args: argparse.Namespace, reporter: Reporter) -> dict:
    from backend.inference.loader import find_default_model
    from backend.modelstore import list_models, load_card, model_dirs, resolve

    if args.model:
        folder = resolve(args.model)
        return {"path": str(folder), "verified": bool(args.verify), "card": load_card(folder, verify=args.verify)}
    models = list_models()
    if args.verify:
        for entry in models:
            if "error" not in entry:
                _verify_entry(entry)
    return {"model_dirs": [str(d) for d in model_dirs()], "verified": bool(args.verify), "models": models,
            "default": find_default_model()}


def _verify_entry(entry: dict) -> None:
    """Mark one listed model verified, or attach the checksum error instead of failing the whole list."""
    from backend.errors import UserError
    from backend.modelstore import load_card

    try:
        load_card(entry["path"], verify=True)
        entry["verified"] = True
    except UserError as err:
        entry["verified"] = False
        entry["error"] = str(err)
