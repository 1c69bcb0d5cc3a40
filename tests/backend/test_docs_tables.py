"""The figures of README.md and docs/*.md that come from committed result files equal what those files say.

Each document's generated block is compared with the generator's output for the committed JSON, and the
learning-curve prose of docs/finetuning.md may only quote F1 values that a committed result holds, so a
figure typed by hand (or left behind by a rerun) fails here. Figures not yet rerun stay in a block marked
``<!-- typed:begin -->`` ... ``<!-- typed:end -->`` that says so, which the check skips.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "docs" / "results"
F1_FIGURE = re.compile(r"(?<![\d.])0\.\d{3}(?!\d)")


def _section(text: str, title: str) -> str:
    """The Markdown section ``## title`` (up to the next ``## ``), generated blocks removed."""
    body = text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]
    return re.sub(r"<!-- ([\w-]+):begin -->.*?<!-- \1:end -->", "", body, flags=re.S)


def _committed_values() -> set[str]:
    """Every F1 / OA the learning-curve section may quote, as the 3-decimal text the docs use: the committed
    learning-curve results, and the default model's card (zero-shot at 32 px, the site-grouped RF reference)."""
    values = set()
    for path in RESULTS.glob("learning_curve*.json"):
        result = json.loads(path.read_text(encoding="utf-8"))
        values.add(f"{result['zero_shot']['f1']:.3f}")
        for cells in result["pooled"].values():
            for cell in cells.values():
                values.update(f"{v:.3f}" for v in (cell["f1_mean"], cell["f1_std"], cell["oa_mean"],
                                                     *cell["f1_per_seed"]))
    default = json.loads((REPO / "models" / "default.json").read_text(encoding="utf-8"))["default"]
    card = json.loads((REPO / "models" / default / "card.json").read_text(encoding="utf-8"))
    values.update(f"{m[k]:.3f}" for m in card["metrics"].values() for k in ("f1", "oa"))
    return values


def _typed(prose: str, values: set[str]) -> list[str]:
    """The 3-decimal figures of ``prose`` that are neither one of ``values`` nor the difference of two figures
    the prose quotes from ``values`` ("within 0.005 of it")."""
    quoted = set(F1_FIGURE.findall(prose))
    committed = [float(v) for v in quoted & values]
    differences = {f"{abs(a - b):.3f}" for a in committed for b in committed}
    return sorted(quoted - values - differences)


def _floats(tree: object) -> set[str]:
    """Every float of a JSON tree, as 3-decimal text."""
    if isinstance(tree, dict):
        return set().union(*map(_floats, tree.values())) if tree else set()
    if isinstance(tree, list):
        return set().union(*map(_floats, tree)) if tree else set()
    return {f"{tree:.3f}"} if isinstance(tree, float) else set()


def test_finetuning_tables_are_the_generated_ones():
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "result_tables.py"), "--check"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    doc = (REPO / "docs" / "finetuning.md").read_text(encoding="utf-8")
    curve = doc.split("<!-- learning-curve:begin -->", 1)[1].split("<!-- learning-curve:end -->", 1)[0]
    assert "| zero-shot (no local label) |" in curve and "- `docs/results/learning_curve" in curve


def test_learning_curve_prose_quotes_only_committed_figures():
    prose = _section((REPO / "docs" / "finetuning.md").read_text(encoding="utf-8"), "Real-data learning curve")
    assert F1_FIGURE.search(prose), "the section quotes no F1 figure: the regular expression no longer matches"
    typed = _typed(prose, _committed_values())
    assert not typed, f"F1 figures in docs/finetuning.md that no committed result holds: {typed}"


def test_reproduction_prose_quotes_only_the_committed_report():
    doc = (REPO / "docs" / "reproduction.md").read_text(encoding="utf-8")
    prose = doc.split("\n## What this shows", 1)[1]
    assert F1_FIGURE.search(prose), "the prose quotes no figure: the regular expression no longer matches"
    typed = _typed(prose, _floats(json.loads((REPO / "docs" / "reproduction.json").read_text(encoding="utf-8"))))
    assert not typed, f"figures in docs/reproduction.md's prose that docs/reproduction.json does not hold: {typed}"


def test_seasons_doc_tables_are_the_generated_ones():
    from backend.experiments.seasons_report import END, START, markdown

    result = json.loads((RESULTS / "seasons.json").read_text(encoding="utf-8"))
    block = (REPO / "docs" / "seasons.md").read_text(encoding="utf-8").split(START, 1)[1].split(END, 1)[0]
    assert block.strip() == markdown(result).strip()


def test_readme_model_count_size_and_default_f1_are_the_cards():
    cards = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((REPO / "models").glob("*/card.json"))]
    megabytes = sum(card["size_bytes"] for card in cards) / 1e6
    default = json.loads((REPO / "models" / "default.json").read_text(encoding="utf-8"))["default"]
    card = next(c for c in cards if c["name"] == default)
    f1 = card["metrics"]["real_angiang_2022_zero_shot"]["f1"]
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"holds {len(cards)} models ({megabytes:.0f} MB" in readme
    assert f"zero-shot with F1 {f1:.3f}" in readme


def test_committed_learning_curves_say_when_and_under_what_load():
    paths = sorted(RESULTS.glob("learning_curve*.json"))
    assert paths, "no committed learning-curve result under docs/results"
    for path in paths:
        measured = json.loads(path.read_text(encoding="utf-8"))["measured"]
        assert measured["date"] and len(measured["load_average_before"]) == 3, path.name
