"""Does a smaller tile overlap keep the map's quality? Default `map` runs on synthetic scenes, per overlap.

For each scene and overlap, `map` runs in its own process with no other option (the tile policy picks the
tile), plus one run whose single tile covers the whole scene (the reference: no tile borders at all). It
reports the F1 against ``truth.tif`` (whole scene and the 16-pixel band along the scene's edges), the seam
excess at the middles of the overlaps, how far the probabilities are from the single-window reference, and
the model seconds and peak memory from ``run.json``. The scenes and overlaps are arguments; the result
behind docs/mapping.md ("Tile overlap") is docs/results/overlap.json::

    python -m backend.experiments.overlap_check --out docs/results/overlap.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from backend.contract.verbs.map import VERB as MAP_VERB
from backend.contract.verbs.synth import VERB as SYNTH_VERB
from backend.experiments.bigscene import REPO
from backend.experiments.deepness import f1_of, our_borders, seam_excess

#: (region, seed, side): the Deepness bench's scene first, then one unseen scene per region.
SCENES = (("mekong", 1, 1024), ("mekong", 2, 1024), ("delta", 3, 768), ("korea", 4, 768), ("sacramento", 5, 768))
OVERLAPS = (32, 16)
EDGE_PX = 16
REFERENCE_OVERLAP = 16  # the single-window run: its halo is half of this on each side


def _backend(*args: str) -> None:
    """Run a backend verb in a child process, as a user would."""
    done = subprocess.run([sys.executable, "-m", "backend", *args, "--progress", "none"], capture_output=True,
                          text=True, cwd=REPO, check=False)
    if done.returncode:
        raise RuntimeError(f"backend {' '.join(args)} failed: {done.stderr.strip()[-400:]}")


def _read(path: Path) -> np.ndarray:
    import rasterio

    with rasterio.open(path) as dataset:
        return dataset.read(1)


def _map(scene: Path, out: Path, *options: str) -> dict:
    _backend("map", "--vv", str(scene / "VV.tif"), "--vh", str(scene / "VH.tif"), "--out", str(out),
             "--overwrite", *options)
    return json.loads((out / MAP_VERB.output("run")).read_text())


def check_scene(region: str, seed: int, side: int, overlaps: tuple[int, ...], work: Path) -> dict:
    """One scene: the reference run and one default run per overlap, scored as the module says."""
    scene = work / f"{region}{seed}"
    _backend("synth", "--region", region, "--seed", str(seed), "--size", str(side), "--out", str(scene))
    truth = _read(scene / SYNTH_VERB.output("truth"))
    edge = np.ones(truth.shape, bool)
    edge[EDGE_PX:-EDGE_PX, EDGE_PX:-EDGE_PX] = False
    whole = side + REFERENCE_OVERLAP  # one tile over the scene and its halo
    _map(scene, work / "reference", "--tile", str(whole), "--overlap", str(REFERENCE_OVERLAP))
    reference = _read(work / "reference" / MAP_VERB.output("probability", "tif"))
    rows = []
    for overlap in overlaps:
        run = _map(scene, work / f"overlap{overlap}", "--overlap", str(overlap))
        probability = _read(work / f"overlap{overlap}" / MAP_VERB.output("probability", "tif"))
        rice = _read(work / f"overlap{overlap}" / MAP_VERB.output("rice", "tif")) == 1
        borders = our_borders(side, run["tile"], run["overlap"])
        diff = np.abs(probability - reference)
        rows.append({"overlap": overlap, "tile": run["tile"], "n_tiles": run["n_tiles"],
                     "f1": f1_of(rice, truth), "edge_f1": f1_of(rice[edge], truth[edge]),
                     "seam_excess": seam_excess(rice, borders, borders),
                     "mean_abs_diff": round(float(diff.mean()), 5), "p99_abs_diff": round(float(np.quantile(diff, 0.99)), 4),
                     "max_abs_diff": round(float(diff.max()), 4),
                     "label_agreement": round(float(((probability >= 0.5) == (reference >= 0.5)).mean()), 5),
                     "model_seconds": run["timings"]["model"], "peak_rss_mb": run["timings"]["peak_rss_mb"]["model"]})
    return {"region": region, "seed": seed, "size": side, "reference_tile": whole, "runs": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="the result JSON to write")
    parser.add_argument("--overlaps", type=int, nargs="+", default=list(OVERLAPS))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        scenes = [check_scene(region, seed, side, tuple(args.overlaps), Path(tmp)) for region, seed, side in SCENES]
    args.out.write_text(json.dumps({"command": "python -m backend.experiments.overlap_check --out "
                                               f"{args.out.name}", "scenes": scenes}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
