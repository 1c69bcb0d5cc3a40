"""Markdown tables of a ``seasonsbench`` result (docs/seasons.md is generated from docs/results/seasons.json)."""

from __future__ import annotations

import json
from pathlib import Path

from backend.contract.verbs.seasonsbench import VERB

START, END = "<!-- seasonsbench:start -->", "<!-- seasonsbench:end -->"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def markdown(result: dict) -> str:
    """The tables docs/seasons.md shows, from the benchmark JSON."""
    s = result["summary"]
    lines = ["| held-out multi-crop synthetic (`delta`) | measured | target |", "|---|---|---|",
             f"| cropping-intensity accuracy | {_fmt(s['intensity_accuracy'])} | ≥ 0.90 |",
             f"| transplanting-date MAE (days) | {s['transplanting_mae_days']} | ≤ 12 |",
             f"| per-season rice F1 (mean) | {_fmt(s['season_f1'])} | ≥ 0.90 |", ""]
    f1, loss = s["window_f1"], s["window_f1_loss_vs_true_season"]
    lines += ["| window (synthetic, mean of scenes) | F1 as given | F1 snapped (default) "
              "| loss snapped vs true season |", "|---|---|---|---|"]
    for case in f1.get("snapped", {}):
        lines.append(f"| {case} | {_fmt(f1['exact'][case])} | {_fmt(f1['snapped'][case])} | "
                     f"{_fmt(loss['snapped'].get(case))} |")
    early = s.get("early_season_f1") or {}
    if early:
        real = (result.get("angiang") or {}).get("early_season", {}).get("f1", {})
        lines += ["", "| days after the main cycle's flooding peak | " + " | ".join(early) + " |",
                  "|---|" + "---|" * len(early),
                  "| F1, synthetic (mean of scenes) | " + " | ".join(_fmt(v) for v in early.values()) + " |"]
        if real:
            lines.append("| F1, real An Giang | " + " | ".join(_fmt(real.get(d)) for d in early) + " |")
        lines += ["", f"First day with synthetic F1 ≥ 0.85: {s.get('early_season_first_day_f1_085')}"]
    if "angiang" in result:
        lines += ["", "| window (real An Giang, 600 cubes) | F1 as given | F1 snapped (default) |", "|---|---|---|"]
        for case, row in result["angiang"]["cases"].items():
            lines.append(f"| {case} | {_fmt(row['exact'])} | {_fmt(row['snapped'])} |")
    timing = result.get("choice_timing")
    if timing:
        lines += ["", f"| time `map` spends choosing its season (`{timing['scene']}`, best of {timing['repeats']}) "
                  "| seconds | windows |", "|---|---|---|"]
        for case in ("no season", "true season"):
            lines.append(f"| {case} | {timing[case]['seconds']:.2f} | "
                         + ", ".join(f"{a} to {b}" for a, b in timing[case]["windows"]) + " |")
        lines.append(f"\nLoad average during the timing: {timing['load_average']}")
    return "\n".join(lines) + "\n"


def write_docs(result: dict, repo: Path) -> list[Path]:
    """Save ``result`` as docs/results/seasons.json and regenerate the tables between the markers of
    docs/seasons.md.

    Args:
        result: a ``seasonsbench`` result.
        repo: the repository root.

    Returns:
        The two files written.

    Raises:
        ValueError: docs/seasons.md lacks the markers.
    """
    target = repo / "docs" / "results" / VERB.output("seasons", "json")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    doc = repo / "docs" / "seasons.md"
    text = doc.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise ValueError(f"{doc} has no {START} ... {END} block to fill")
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    doc.write_text(f"{head}{START}\n{markdown(result)}{END}{tail}", encoding="utf-8")
    return [target, doc]
