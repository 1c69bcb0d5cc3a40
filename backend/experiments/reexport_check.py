"""Would re-exporting a bundled model with today's export form make its calls faster? (issue 15)

The export form changes from time to time (blocked-layout gates, negated attention convolutions, see
docs/models.md) while a bundled model keeps the graph it was last exported with. This check copies each
named model folder into a temporary folder, re-exports the copy from its unchanged weights (what
``python -m backend pretrain --reexport --only NAME`` does to the bundled folder), and times one tile of
both graphs through the ONNX engine ``map`` uses (shape-fixed sessions), alternating which graph runs
first from round to round. It also reports the largest difference between the two graphs' outputs.

Run: ``python -m backend.experiments.reexport_check --out result.json`` (about a minute on 2 cores for the
SimTA variants besides the default).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from backend.experiments.inference_bench import cpu_engine
from backend.modelstore import BUNDLED_DIR, load_card, physical_cores
from backend.modelstore.onnx_io import ONNX_FILE
from backend.progress import Reporter

#: The SimTA variants whose bundled graphs were not re-exported with the blocked-layout gates.
OTHER_SIMTA = ("simta-data", "simta-decision", "simta-feature-add", "simta-feature-aff", "simta-feature-concat",
               "simta-feature-dff", "simta-vh", "simta-vv")


def reexported_copies(names: list[str], folder: Path) -> dict[str, Path]:
    """Each bundled model of ``names`` copied into ``folder`` and re-exported there; name -> copy."""
    from backend.training.pretrain import reexport  # lazy: torch

    copies = {}
    for name in names:
        copies[name] = folder / name
        shutil.copytree(BUNDLED_DIR / name, copies[name])
    reexport(folder, names, Reporter("none"))
    return copies


def _tile_call(folder: Path, threads: int, tile: int) -> Callable[[], list[np.ndarray]]:
    """One ``tile``² call of ``folder``'s ONNX file through the engine ``map`` uses, on a tile of random dB.

    The call asks for the heat map too where the graph has that output, as the default ``map`` does.
    """
    inputs = load_card(folder)["inputs"]
    shape = (1, int(inputs["steps"]), len(inputs["polarizations"]), tile, tile)
    x = np.random.default_rng(0).normal(-12.0, 4.0, size=shape).astype(np.float32)
    engine = cpu_engine(folder / ONNX_FILE, threads)
    if engine.predict_with_heatmap is not None:
        with_heatmap = engine.predict_with_heatmap
        return lambda: list(with_heatmap(x, 0.5))
    return lambda: [engine.predict(x)]


def compare(old: Path, new: Path, threads: int, tile: int, rounds: int) -> dict:
    """Per-call seconds (min, median) of the ``old`` and ``new`` model folders, alternating, and their difference."""
    calls = {"old": _tile_call(old, threads, tile), "new": _tile_call(new, threads, tile)}
    first = {tag: call() for tag, call in calls.items()}  # also opens each engine's shape-fixed session
    difference = max(float(np.abs(a - b).max()) for a, b in zip(first["old"], first["new"]))
    times: dict[str, list[float]] = {"old": [], "new": []}
    for number in range(rounds + 2):  # the first two rounds warm up and are not kept
        for tag in ("old", "new") if number % 2 == 0 else ("new", "old"):
            start = time.perf_counter()
            calls[tag]()
            if number >= 2:
                times[tag].append(time.perf_counter() - start)
    medians = {tag: statistics.median(values) for tag, values in times.items()}
    return {"old_s": {"min": min(times["old"]), "median": medians["old"]},
            "new_s": {"min": min(times["new"]), "median": medians["new"]},
            "new_over_old_median": medians["new"] / medians["old"], "largest_output_difference": difference}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", default=list(OTHER_SIMTA), help="bundled models to check")
    parser.add_argument("--tile", type=int, default=272, help="tile side in pixels (default 272, map's at 1024²)")
    parser.add_argument("--rounds", type=int, default=12, help="timed rounds per model (default 12)")
    parser.add_argument("--threads", type=int, default=None, help="model threads (default: physical cores)")
    parser.add_argument("--out", required=True, help="result JSON to write")
    args = parser.parse_args(argv)
    unknown = [name for name in args.only if not (BUNDLED_DIR / name / "card.json").is_file()]
    if unknown:
        parser.error(f"--only: no bundled model {', '.join(unknown)} in {BUNDLED_DIR}; "
                     "name folders of models/ (python -m backend models lists them)")
    threads = args.threads or physical_cores()
    with tempfile.TemporaryDirectory() as tmp:
        copies = reexported_copies(args.only, Path(tmp))
        models = {name: compare(BUNDLED_DIR / name, copy, threads, args.tile, args.rounds)
                  for name, copy in copies.items()}
    result = {"command": "python -m backend.experiments.reexport_check " + " ".join(argv or sys.argv[1:]),
              "tile": args.tile, "threads": threads, "rounds": args.rounds,
              "load_average": os.getloadavg()[0], "models": models}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
