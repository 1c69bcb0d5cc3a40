"""CPU-time benchmark of ``finetune`` with default settings on 50 labelled polygons of a 2k x 2k scene.

Run: ``python -m backend.experiments.finetune_bench --out bench_output/finetune`` (after ``make pretrain``).
It writes a synthetic Mekong-like scene with the ``synth`` generator (kept between runs), keeps 25 rice and 25
non-rice polygons of its ``labels.gpkg`` (random, seeded, at least ``MIN_PIXELS`` pixels each, the size
an analyst would digitize), times one ``python -m backend finetune`` subprocess and writes
``benchmark.json`` beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from backend.contract.verbs.synth import VERB as SYNTH
from backend.synthetic import generate_scene
from backend.synthetic import scene as synthetic_scene
from backend.synthetic.writer import write_scene as write_synthetic

REPO = Path(__file__).resolve().parents[2]
SEASON = ("2022-04-01", "2022-08-31")
SCENE_DATES = ("2022-03-20", "2022-09-10")
MIN_PIXELS = 20


def backend(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "backend", *args], cwd=REPO, capture_output=True, text=True,
                          env=env)


def write_scene(folder: Path, size: int, seed: int) -> None:
    """The synth verb's scene, generated in-process: the verb stops at 1024 px to bound its memory, and
    a 2k scene over this season peaks near 8 GB of memory while it is generated."""
    import datetime as dt


    if (folder / SYNTH.output("labels")).is_file():
        return
    synthetic_scene.MAX_SIZE = max(synthetic_scene.MAX_SIZE, size)
    start, end = (dt.date.fromisoformat(d) for d in SCENE_DATES)
    write_synthetic(generate_scene("mekong", size, seed, start=start, end=end), folder, "a")


def pick_polygons(labels: Path, out: Path, per_class: int, seed: int, pixel_area: float) -> dict:
    """``per_class`` random rice and non-rice polygons of at least MIN_PIXELS pixels, written to ``out``."""
    import pyogrio.raw
    import shapely

    meta, _, wkb, fields = pyogrio.raw.read(str(labels))
    geoms = shapely.from_wkb(wkb)
    classes = np.asarray(fields[list(meta["fields"]).index("class")], dtype=object)
    big = shapely.area(geoms) >= MIN_PIXELS * pixel_area
    rng = np.random.default_rng(seed)
    keep = np.concatenate([rng.choice(np.flatnonzero(big & (classes == c)), per_class, replace=False)
                           for c in ("rice", "other")])
    pyogrio.raw.write(str(out), np.asarray(wkb, dtype=object)[keep], [classes[keep]], fields=["class"],
                      layer="labels", driver="GPKG", geometry_type=meta["geometry_type"], crs=meta["crs"])
    return {"polygons": int(len(keep)), "labelled_pixels": int(shapely.area(geoms[keep]).sum() / pixel_area)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench_output/finetune", help="work folder (scene, model, benchmark.json)")
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--polygons", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--base-model", help="model to fine-tune (default: the bundled default)")
    args = parser.parse_args(argv)
    out = Path(args.out).resolve()
    scene = out / f"scene{args.size}"
    t0 = time.perf_counter()
    write_scene(scene, args.size, args.seed)
    synth_seconds = time.perf_counter() - t0
    labels = pick_polygons(scene / SYNTH.output("labels"), out / "labels50.gpkg", args.polygons // 2, args.seed, 100.0)
    command = ["finetune", "--vv", str(scene / "VV.tif"), "--vh", str(scene / "VH.tif"), "--labels",
               str(out / "labels50.gpkg"), "--class-field", "class", "--rice-values", "rice", "--season", *SEASON,
               "--name", "bench-finetune", "--out", str(out / "models"), "--overwrite", "--threads",
               str(args.threads), "--progress", "json"] + (["--base-model", args.base_model] if args.base_model else [])
    t0 = time.perf_counter()
    proc = backend(*command, env={**os.environ, "OMP_NUM_THREADS": str(args.threads)})
    seconds = time.perf_counter() - t0
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    result = {"scene": f"{args.size} x {args.size} synthetic mekong, seed {args.seed}", "labels": labels,
              "threads": args.threads, "cpu_count": os.cpu_count(), "wall_seconds": round(seconds, 1),
              "synth_seconds": round(synth_seconds, 1), "exit_code": proc.returncode,
              "epochs": [e for e in events if e.get("event") == "epoch"],
              "result": next((e for e in events if e.get("event") in ("result", "error")), None),
              "command": "python -m backend " + " ".join(command)}
    (out / "benchmark.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("wall_seconds", "exit_code", "labels", "threads")}, indent=2))
    if proc.returncode:
        print(proc.stderr[-3000:], file=sys.stderr)
    return result


if __name__ == "__main__":
    main()
