"""``models``: list the installed models with their cards, show one card (by name or path), list the model index
(``--available``) or install a model on demand (``--install NAME [--from FILE_OR_URL]``)."""

from __future__ import annotations

import argparse

from backend.errors import UserError
from backend.modelstore import list_models, load_card, model_dirs, resolve
from backend.modelstore.install import available, index_location, install_model, load_index
from backend.progress import Reporter


def run(args: argparse.Namespace, reporter: Reporter) -> dict:
    from backend.inference.loader import find_default_model  # lazy: keeps --help free of numpy

    if args.source and not args.install:
        raise UserError("{param:source} needs {param:install}: give the name of the model the archive holds",
                        param="source")
    if args.install:
        return _install(args, reporter)
    if args.available:
        index = load_index(args.index)
        return {"index": index["location"], "models": available(index)}
    if args.model:
        folder = resolve(args.model)
        return {"path": str(folder), "verified": bool(args.verify), "card": load_card(folder, verify=args.verify)}
    models = list_models()
    if args.verify:
        for entry in models:
            if "error" not in entry:
                _verify_entry(entry)
    return {"model_dirs": [str(d) for d in model_dirs()], "verified": bool(args.verify), "models": models,
            "default": find_default_model(), "index": index_location(args.index)}


def _install(args: argparse.Namespace, reporter: Reporter) -> dict:
    """Download with progress; the reporter counts kilobytes, so its totals stay integers."""
    reporter.stage("download", 0, f"model {args.install}")
    state = {"total": 0}

    def progress(done: int, total: int) -> None:
        if total != state["total"]:
            state["total"] = total
            reporter.stage("download", total // 1024, f"model {args.install}: {total / 1e6:.1f} MB")
        step = done // 1024 - reporter.done
        if step >= 256 or done == total:
            reporter.advance(step, f"{done / 1e6:.1f} of {total / 1e6:.1f} MB")

    return install_model(args.install, args.source, args.index, progress)


def _verify_entry(entry: dict) -> None:
    """Mark one listed model verified, or attach the checksum error instead of failing the whole list."""
    try:
        load_card(entry["path"], verify=True)
        entry["verified"] = True
    except UserError as err:
        entry["verified"] = False
        entry["error"] = str(err)
