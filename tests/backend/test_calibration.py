"""Mekong-like synthetic statistics agree with real An Giang Sentinel-1 cubes (2022), month by month.

Tolerances (see backend/synthetic/calibration.py and docs/synthetic.md): |mean difference| <= 1.5 dB
for rice VV and VH, <= 2 dB for rice VH-VV and every non-rice quantity; spread ratio (synthetic /
real, spread = std across points of the per-point monthly mean) within [0.5, 2].
"""

from __future__ import annotations

import pytest

from backend.synthetic import calibration

pytestmark = pytest.mark.skipif(
    not (calibration.DATA_DIR / calibration.CUBES).exists(),
    reason=f"real An Giang cubes not found at {calibration.DATA_DIR / calibration.CUBES} "
           "(the shared/ data folder must sit beside the repository)")


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    real = calibration.real_points()
    return calibration.compare(real, calibration.synthetic_points(real["rice"].dates))


def test_every_month_and_quantity_is_compared(rows: list[dict]) -> None:
    assert len(rows) == 2 * 12 * 3


def test_monthly_means_and_spreads_within_tolerance(rows: list[dict]) -> None:
    bad = calibration.failures(rows)
    assert not bad, "\n".join(bad)


def test_rice_shows_flooding_dips_and_non_rice_does_not(rows: list[dict]) -> None:
    # the real rice VH range over the year is several dB (crop cycles); non-rice stays flat
    def vh_range(cls: str, key: str) -> float:
        values = [r[key] for r in rows if r["class"] == cls and r["quantity"] == "VH"]
        return max(values) - min(values)

    assert vh_range("rice", "synth_mean") > 3.0 and vh_range("rice", "real_mean") > 3.0
    assert vh_range("non_rice", "synth_mean") < 1.5 and vh_range("non_rice", "real_mean") < 1.5


def test_calibration_script_prints_the_table() -> None:
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert calibration.main([]) == 0
    text = buffer.getvalue()
    assert "| rice | 07 | VH |" in text and "0 outside tolerance" in text
