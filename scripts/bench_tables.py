"""Write the measured tables of docs/mapping.md from the committed result JSON (never typed by hand).

Usage: python3 scripts/bench_tables.py [--check]
Each table sits between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->`` in docs/mapping.md:

* ``deepness-table``: docs/bench/deepness.json, the ``deepness`` blocks of
  ``python -m backend bench --deepness-only`` runs, their ``scenes`` put together (a scene may carry a
  ``label``);
* ``engines-table``: the same file's scenes that timed OpenVINO too (``ours_openvino*`` rounds): each of our
  engines against Deepness, its model stage, label agreement and peak memory;
* ``memory-table``: docs/bench/memory.json, ``memory`` records of ``bench --memory-only`` runs, each with a
  ``label``;
* ``overlap-table``: docs/results/overlap.json, from ``python -m backend.experiments.overlap_check``;
* ``graph-table``: docs/bench/graph.json, the ``graph``, ``roofline``, ``engines`` and ``int8`` blocks of
  ``bench --quick --skip-memory`` runs, each with a ``label`` and the machine's SIMD flags;
* ``openvino-table``: docs/results/openvino_check.json, runs of ``python -m backend.experiments.openvino_check``;
* ``read-table``: docs/results/read_check.json, from ``python -m backend.experiments.read_check``.

``--check`` only reports (exit 1) whether the document is out of date. Standard library only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from backend.doc_markers import replace_between  # noqa: E402 - standard library only, like this script

RESULT = REPO / "docs" / "bench" / "deepness.json"
MEMORY = REPO / "docs" / "bench" / "memory.json"
DOC = REPO / "docs" / "mapping.md"
OVERLAP = REPO / "docs" / "results" / "overlap.json"
GRAPH = REPO / "docs" / "bench" / "graph.json"
OPENVINO = REPO / "docs" / "results" / "openvino_check.json"
READS = REPO / "docs" / "results" / "read_check.json"


def _ratio(block: dict) -> str:
    return f"{block['median']:.2f} ({block['min']:.2f})"


def _peaks(rounds: list[dict]) -> str:
    ours = max(r["ours"]["peak_rss_mb"] for r in rounds)
    theirs = max(r["deepness"]["peak_rss_mb"] for r in rounds)
    return f"{ours:.0f} / {theirs:.0f} MB"


def _cpu(scene: dict) -> str:
    block = scene.get("cpu_ratio")
    if not block or "median" not in block:
        return "not recorded"
    busy = block["cores_busy"]
    return (f"{_ratio(block)}; cores busy {min(busy['ours']):.2f}–{max(busy['ours']):.2f} / "
            f"{min(busy['deepness']):.2f}–{max(busy['deepness']):.2f}")


OPENVINO_SIDES = {"ours_openvino": ("openvino", "f32"), "ours_openvino_bf16": ("openvino_bf16", "bf16")}


def _round_cell(record: dict) -> str:
    load = record["load_average"][0]
    openvino = [record[side]["seconds"] for side in OPENVINO_SIDES if record.get(side, {}).get("seconds")]
    return (f"{record['ours']['seconds']:.1f} / {record['ours_no_heatmap']['seconds']:.1f} / "
            + "".join(f"{seconds:.1f} / " for seconds in openvino)
            + f"{record['deepness']['seconds']:.1f} s (load {load:.1f})")


def _openvino(scene: dict) -> str:
    cells = [f"{precision}: {_ratio(scene[f'speed_ratio_wall_{key}'])}; {_ratio(scene[f'{key}_vs_default'])} × our "
             f"default; same labels {scene[f'{key}_same_labels']:.3%}"
             for key, precision in OPENVINO_SIDES.values() if f"speed_ratio_wall_{key}" in scene]
    return "<br>".join(cells) or "not run"


def render(result: dict) -> str:
    """Markdown: one summary row per scene, then the seconds of every round."""
    lines = ["| scene | our `map` vs Deepness, wall: median (min) | engine only | CPU time, Deepness / ours: median "
             "(min); cores busy ours / Deepness | heat-map cost | F1 ours | F1 Deepness | seam excess ours (rows/cols) "
             "| seam excess Deepness | peak RSS ours / Deepness | `map --engine openvino` vs Deepness: median (min); "
             "vs our default |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    rounds = ["", "| scene | round: ours / ours without heat map / [ours with `--engine openvino` / with `--precision "
              "bf16` /] Deepness, wall seconds (1-min load average) |", "|---|---|"]
    for scene in result["scenes"]:
        side = scene['size'][0] if isinstance(scene['size'], list) else scene['size']
        name = scene.get("label") or f"{side}²"
        if "skipped" in scene:
            lines.append(f"| {name} | skipped: {scene['skipped']} | | | | | | | | | |")
            continue
        seams = scene["seam_excess"]
        lines.append(f"| {name} | {_ratio(scene['speed_ratio_wall'])} | "
                     f"{_ratio(scene['speed_ratio_engine'])} | {_cpu(scene)} | {_ratio(scene['heatmap_cost'])} | "
                     f"{scene['f1']['ours']:.4f} | {scene['f1']['deepness']:.4f} | "
                     f"{seams['ours']['rows']} / {seams['ours']['cols']} | "
                     f"{seams['deepness']['rows']} / {seams['deepness']['cols']} | {_peaks(scene['rounds'])} | "
                     f"{_openvino(scene)} |")
        rounds += [f"| {name} | " + "; ".join(_round_cell(r) for r in scene["rounds"]) + " |"]
    return "\n".join(lines + rounds)


ENGINE_ROWS = (("ours", "default `map` (ONNX Runtime)", None),
               ("ours_openvino", "`--engine openvino`", "openvino"),
               ("ours_openvino_bf16", "`--engine openvino --precision bf16`", "openvino_bf16"))


def _span(values: list[float], unit: str, digits: int) -> str:
    return f"{min(values):.{digits}f}–{max(values):.{digits}f} {unit}"


def render_engines(result: dict) -> str:
    """Markdown: for each scene that timed OpenVINO, one row per engine of ours (ratios from its rounds)."""
    lines = ["| scene | run | vs Deepness, wall: median (min) | vs our default | model stage | labels as the "
             "default's | peak RSS |", "|---|---|---|---|---|---|---|"]
    for scene in result["scenes"]:
        if "speed_ratio_wall_openvino" not in scene:
            continue
        run_name = scene["label"].split(" (")[0]  # scene and session, e.g. "1024², session 10"
        for key, name, summary in ENGINE_ROWS:
            rounds = [r[key] for r in scene["rounds"] if r.get(key, {}).get("exit_code") == 0]
            if not rounds:
                continue
            ratio = scene["speed_ratio_wall"] if summary is None else scene[f"speed_ratio_wall_{summary}"]
            versus = "1" if summary is None else _ratio(scene[f"{summary}_vs_default"])
            same = "" if summary is None else f"{scene[f'{summary}_same_labels']:.3%}"
            lines.append(f"| {run_name} ({scene['date']}) | {name} | {_ratio(ratio)} | {versus} | "
                         f"{_span([r['timings']['model'] for r in rounds], 's', 2)} | {same} | "
                         f"{_span([r['peak_rss_mb'] for r in rounds], 'MB', 0)} |")
    return "\n".join(lines)


def render_memory(result: dict) -> str:
    """Markdown: one row per peak-memory run of `map`, with its stage split from run.json's timings."""
    lines = ["| run | scene | tiles | peak RSS | wall time | model / read_composite / finish (s) | outside the model |",
             "|---|---|---|---|---|---|---|"]
    for run in result["runs"]:
        t = run.get("timings") or {}
        split = (f"{t['model']:.0f} / {t['read_composite']:.0f} / {t['finish']:.0f}" if t else "—")
        share = f"{100 * t['outside_model_share']:.1f} %" if t.get("outside_model_share") is not None else "—"
        heat = "with heat map" if run.get("heatmap") else "no heat map"
        engine = {"onnx": "ONNX Runtime", "openvino": "OpenVINO"}.get(run.get("engine", "onnx"), run.get("engine"))
        lines.append(f"| {run['label']} | {run['size']}², {run['dates']} dates, {heat}, {engine} | "
                     f"{run.get('tiles', '—')} | "
                     f"**{run['peak_rss_mb']:.0f} MB** | {run['seconds']:.0f} s | {split} | {share} |")
    return "\n".join(lines)


def render_overlap(result: dict) -> str:
    """Markdown: per scene and overlap, quality against truth and against the single-window reference."""
    lines = ["| scene | overlap | tile (count) | F1 | edge F1 | seam excess rows / cols | mean / max abs. diff "
             "to one window | same label as one window | model s | peak MB |", "|---|---|---|---|---|---|---|---|---|---|"]
    for scene in result["scenes"]:
        name = f"{scene['region']} seed {scene['seed']}, {scene['size']}²"
        for run in scene["runs"]:
            seams = run["seam_excess"]
            lines.append(f"| {name} | {run['overlap']} | {run['tile']}² ({run['n_tiles']}) | {run['f1']:.5f} | "
                         f"{run['edge_f1']:.5f} | {seams['rows']} / {seams['cols']} | {run['mean_abs_diff']:.5f} / "
                         f"{run['max_abs_diff']:.3f} | {100 * run['label_agreement']:.3f} % | "
                         f"{run['model_seconds']:.2f} | {run['peak_rss_mb']:.0f} |")
    return "\n".join(lines)


def render_graph(result: dict) -> str:
    """Markdown: per run, ONNX Runtime's reorder share, thread scaling, rooflines, per-pixel cost, int8."""
    lines = ["| run | CPU (SIMD) | reorders: share of kernel time (nodes) | Conv share | 2 threads / 1, wall (bound "
             "from CPU) | roofline: 2-thread wall / 1-thread CPU | CPU µs per pixel by tile | int8 / fp32 tiles/s | "
             "load |", "|---|---|---|---|---|---|---|---|---|"]
    for run in result["runs"]:
        graph, profile = run["graph"], run["graph"]["ort_profile"]
        nodes = profile["nodes_per_call"]
        reorder_nodes = nodes.get("ReorderInput", 0) + nodes.get("ReorderOutput", 0)
        threads = graph["threads"]
        costs = ", ".join(f"{c['tile']}: {c['cpu_us_per_pixel']:.2f}" for c in graph["tile_cost"])
        engines = run["engines"]
        int8 = engines["onnx_int8"]["tiles_per_s"] / engines["onnx_fp32"]["tiles_per_s"]
        machine = run["machine"]
        lines.append(f"| {run['label']} | {machine['cpu']} ({', '.join(machine.get('simd', [])) or '?'}) | "
                     f"{100 * profile['reorder_share']:.1f} % ({reorder_nodes} for {nodes.get('Conv', 0)} Conv) | "
                     f"{100 * profile['op_share'].get('Conv', 0):.1f} % | {threads['speedup_2_over_1']:.2f} "
                     f"({threads['speedup_bound_from_cpu']:.2f}) | {run['roofline']['ratio']:.3f} / "
                     f"{graph['roofline_cpu_1thread']['ratio']:.3f} | {costs} | {int8:.2f} | "
                     f"{graph['load_average'][0]:.2f} |")
    return "\n".join(lines)


def _per_call(block: dict) -> str:
    return f"{block['wall_min']:.3f} / {block['wall_median']:.3f} ({block['cpu_median']:.3f})"


VARIANT_NAMES = {"openvino_f32": "OpenVINO f32", "openvino_bf16": "OpenVINO bf16",
                 "ort_openvino_ep_f32": "ORT + OpenVINO plugin provider, f32",
                 "ort_openvino_ep_bf16": "ORT + OpenVINO plugin provider, bf16"}


def _variants(tile: dict) -> dict:
    """The runtimes of one tile record; session 7's records held OpenVINO alone (f32: that CPU had no bf16)."""
    if "variants" in tile:
        return tile["variants"]
    keys = ("max_abs_difference", "speedup_wall", "speedup_cpu_median")
    return {"onnxruntime": tile["onnxruntime"], "openvino_f32": {**tile["openvino"], **{k: tile[k] for k in keys}}}


def _openvino_rows(label: str, load: float, tile: dict) -> list[str]:
    start = tile["start_up"]
    before = (start["import_seconds"], start["compile_seconds_cached"],
              start["first_call_seconds"] - start["second_call_seconds"])
    variants = _variants(tile)
    rows = []
    for key, block in variants.items():
        if key == "onnxruntime":
            continue
        up = block["speedup_wall"]
        cells = [label, f"{tile['tile']}²", _per_call(variants["onnxruntime"]), VARIANT_NAMES[key], _per_call(block),
                 f"{up['min']:.2f} / {up['median']:.2f} ({block['speedup_cpu_median']:.2f})",
                 " + ".join(f"{value:.2f}" for value in before) + " s", f"{max(block['max_abs_difference']):.1e}",
                 f"{load:.1f}"]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def _label_rows(result: dict) -> list[str]:
    lines = ["", "| run | scene | F1 ONNX Runtime | variant | F1 | labels changed | rice share change |",
             "|---|---|---|---|---|---|---|"]
    for run in result["runs"]:
        labels = run.get("labels")
        if not labels:
            continue
        for key, changed in labels["labels_changed"].items():
            lines.append(f"| {run['label']} | {labels['scene']} | {labels['f1']['onnxruntime']:.5f} | "
                         f"{VARIANT_NAMES[key]} | {labels['f1'][key]:.5f} | {100 * changed:.3f} % | "
                         f"{100 * labels['rice_share_change'][key]:+.3f} points |")
    return lines if len(lines) > 3 else []


def render_openvino(result: dict) -> str:
    """Markdown: per run, tile and variant, seconds per call against ONNX Runtime's, what OpenVINO adds before
    the first tile, and (for runs that measured it) what each variant changes in a scene's rice labels."""
    lines = ["| run | tile | ONNX Runtime s per call: min / median (CPU) | variant | its s per call: min / median (CPU) "
             "| speed-up, wall min / median (CPU) | OpenVINO before the first tile: import + compile "
             "(cached) + first call's extra | largest output difference | load |",
             "|---|---|---|---|---|---|---|---|---|"]
    for run in result["runs"]:
        for tile in run["tiles"]:
            lines += _openvino_rows(run["label"], run["load_average_before"][0], tile)
    return "\n".join(lines + _label_rows(result))


def render_reads(result: dict) -> str:
    """Markdown: per round, seconds reading a scene's tiles in each kind of pass (CPU seconds in brackets)."""
    passes = [key for key, value in result["rounds"][0].items() if isinstance(value, dict)]
    names = [key.replace("_", " ") for key in passes]
    lines = ["| round (load) | " + " | ".join(names) + " |", "|---|" + "---|" * len(passes)]
    for record in result["rounds"]:
        cells = []
        for key in passes:
            cell = f"{record[key]['read_seconds']:.2f} ({record[key]['read_cpu_seconds']:.2f})"
            if "model_seconds" in record[key]:
                cell += f"; model {record[key]['model_seconds']:.2f}"
            cells.append(cell)
        lines.append(f"| {record['round']} ({record['load_average'][0]:.1f}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    doc = DOC.read_text()
    deepness = json.loads(RESULT.read_text())
    new = replace_between(doc, "deepness-table", render(deepness))
    new = replace_between(new, "engines-table", render_engines(deepness))
    new = replace_between(new, "memory-table", render_memory(json.loads(MEMORY.read_text())))
    new = replace_between(new, "overlap-table", render_overlap(json.loads(OVERLAP.read_text())))
    new = replace_between(new, "graph-table", render_graph(json.loads(GRAPH.read_text())))
    new = replace_between(new, "openvino-table", render_openvino(json.loads(OPENVINO.read_text())))
    new = replace_between(new, "read-table", render_reads(json.loads(READS.read_text())))
    if "--check" in argv:
        if new != doc:
            print(f"{DOC} is out of date with {RESULT}, {MEMORY}, {OVERLAP}, {GRAPH}, {OPENVINO} or {READS}; run "
                  "python3 scripts/bench_tables.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
