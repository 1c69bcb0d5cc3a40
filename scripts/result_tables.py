"""Write the learning-curve and CPU-time tables of docs/finetuning.md from committed result JSON (never typed).

Usage: python3 scripts/result_tables.py [--check]
Reads the ``python -m backend learningcurve --out`` files in docs/results/ named in :data:`TABLES` and
replaces the text between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->`` in docs/finetuning.md for every
table NAME, and the fine-tuning CPU-time run (docs/results/finetune_bench.json) between
``<!-- finetune-cpu:begin -->`` and ``<!-- finetune-cpu:end -->``. A row whose result file is not committed
is left out, so a table never shows a typed figure.
``--check`` only reports (exit 1) whether the document is out of date. Standard library only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from backend.doc_markers import replace_between  # noqa: E402 - standard library only, like this script

RESULTS = REPO / "docs" / "results"
DOC = REPO / "docs" / "finetuning.md"
CURVE_SIZES = ("10", "20", "50", "100", "all")
VARIANT_SIZES = ("20", "all")
MAIN = "learning_curve_shift4.json"  # RF (time-shifted copies), FT and FTE

#: table name -> (first column's title, sizes, rows); a row is (label, result file, method)
TABLES: dict[str, tuple[str, tuple[str, ...], tuple[tuple[str, str, str], ...]]] = {
    "learning-curve": ("method", CURVE_SIZES, (
        ("RF, plain (as in the paper; `--time-shift 0`)", "learning_curve_rf_plain.json", "RF"),
        ("RF + time-shifted copies", MAIN, "RF"),
        ("FT", MAIN, "FT"),
        ("**FTE** (default)", MAIN, "FTE"),
        ("RI", "learning_curve_shift4_ri.json", "RI"),
    )),
    "fte-variants": ("FTE variant", VARIANT_SIZES, (
        ("no remedy (`--time-shift 0`)", "learning_curve_fte_shift0.json", "FTE"),
        ("L2-SP, strength 30 (`--l2sp 30 --time-shift 0`)", "learning_curve_fte_l2sp30.json", "FTE"),
        ("time shift ±2 steps (`--time-shift 2`)", "learning_curve_fte_shift2.json", "FTE"),
        ("**time shift ±4 steps (the default)**", MAIN, "FTE"),
    )),
    "per-seed": ("method", VARIANT_SIZES, (
        ("RF, plain", "learning_curve_rf_plain.json", "RF"),
        ("RF + time-shifted copies", MAIN, "RF"),
        ("FT", MAIN, "FT"),
        ("**FTE** (default)", MAIN, "FTE"),
    )),
}


def _load(name: str) -> dict | None:
    path = RESULTS / name
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _mean_std(cell: dict) -> str:
    return f"{cell['f1_mean']:.3f} ± {cell['f1_std']:.3f}" if len(cell["f1_per_seed"]) > 1 else \
        f"{cell['f1_mean']:.3f}"


def _per_seed(cell: dict) -> str:
    return " / ".join(f"{v:.3f}" for v in cell["f1_per_seed"])


def _sources(files: list[str], results: dict[str, dict]) -> str:
    """One line per result file: methods, seeds, wall seconds, date and load average of the run."""
    lines = []
    for name in files:
        result = results[name]
        cfg, measured = result["config"], result.get("measured", {})
        load = measured.get("load_average_before"), measured.get("load_average_after")
        when = (f", {measured['date']}, 1-min load average {load[0][0]:.1f} before and {load[1][0]:.1f} after"
                if measured else "")
        lines.append(f"- `docs/results/{name}`: {' '.join(cfg['methods'])}, seeds "
                     f"{' '.join(str(s) for s in cfg['seeds'])}, time shift {cfg['time_shift']}, L2-SP "
                     f"{cfg['l2sp']:g}; {result['seconds']:.0f} s wall{when}")
    return "\n".join(lines)


def render(name: str) -> str:
    """Markdown of table ``name``: the rows whose result file is committed, then where each came from."""
    title, sizes, rows = TABLES[name]
    results = {f: r for f in dict.fromkeys(f for _, f, _ in rows) if (r := _load(f)) is not None}
    fmt = _per_seed if name == "per-seed" else _mean_std
    lines = [f"| {title} | " + " | ".join("all (300 per fold)" if s == "all" else f"n = {s}" for s in sizes) + " |",
             "|---|" + "---|" * len(sizes)]
    used = []
    if name == "learning-curve" and results:
        first = next(iter(results))  # every run scores the same base model on the same 600 points
        used.append(first)
        zero = f"{results[first]['zero_shot']['f1']:.3f}"
        lines.append("| zero-shot (no local label) | " + " | ".join([zero] * len(sizes)) + " |")
    for label, file, method in rows:
        pooled = results.get(file, {}).get("pooled", {}).get(method)
        if pooled is None or not all(s in pooled for s in sizes):
            continue
        used.append(file)
        lines.append(f"| {label} | " + " | ".join(fmt(pooled[s]) for s in sizes) + " |")
    if not used:
        return ("No committed result for this table yet; its rows come from "
                + ", ".join(f"`docs/results/{f}`" for f in sorted({f for _, f, _ in rows})) + ".")
    return "\n".join(lines + ["", "Sources:", _sources(list(dict.fromkeys(used)), results)])


FINETUNE_BENCH = "finetune_bench.json"  # python -m backend.experiments.finetune_bench --out DIR: its benchmark.json


def render_finetune_bench() -> str:
    """Markdown of the fine-tuning CPU-time run: wall time, epochs and validation scores from its result."""
    result = _load(FINETUNE_BENCH)
    if result is None:
        return f"No committed result yet (`docs/results/{FINETUNE_BENCH}`)."
    run = result["result"]
    per_epoch = [e["seconds"] for e in result["epochs"]]
    return "\n".join([
        "| scene | labels | wall (whole `finetune` process) | epochs run (best) | s per epoch | validation F1 / IoU |",
        "|---|---|---|---|---|---|",
        f"| {result['scene']} | {result['labels']['polygons']} polygons, {result['labels']['labelled_pixels']} px | "
        f"**{result['wall_seconds']:.0f} s** on {result['threads']} threads | {run['epochs_run']} ({run['best_epoch']}) | "
        f"{min(per_epoch):.1f}–{max(per_epoch):.1f} | {run['validation']['f1']:.3f} / {run['validation']['iou_rice']:.3f} |"])


def updated(doc: str) -> str:
    """``doc`` with every table of :data:`TABLES` and the fine-tuning CPU-time run regenerated between their
    markers."""
    doc = replace_between(doc, "finetune-cpu", render_finetune_bench())
    for name in TABLES:
        doc = replace_between(doc, name, render(name))
    return doc


def main(argv: list[str]) -> int:
    doc = DOC.read_text(encoding="utf-8")
    new = updated(doc)
    if "--check" in argv:
        if new != doc:
            print(f"{DOC} is out of date with {RESULTS}/learning_curve*.json; run python3 scripts/result_tables.py",
                  file=sys.stderr)
            return 1
        return 0
    DOC.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
