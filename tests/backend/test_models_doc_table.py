"""docs/models.md's SimTA size table (and the width-16 figures in its prose) are what the code computes."""

from __future__ import annotations

from pathlib import Path

from backend.doc_markers import between
from backend.nets.profile import TABLE, markdown_table, simta_size_table

DOC = Path(__file__).resolve().parents[2] / "docs" / "models.md"


def test_size_table_is_the_one_the_profile_writes():
    assert between(DOC.read_text(), TABLE) == markdown_table(simta_size_table()), "run python -m backend.nets.profile --write docs/models.md"


def test_width_16_figures_in_the_prose_are_computed():
    cga = next(r for r in simta_size_table(width=16) if r["method"] == "cga")
    assert f"{cga['params'] / 1e6:.2f} M and {cga['macs'] / 1e9:.1f} G" in DOC.read_text()
