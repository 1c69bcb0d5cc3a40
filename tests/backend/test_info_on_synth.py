"""Issue 2's acceptance check: `info` reports the right layout, dates and units for synthetic scenes
written in all three layouts (both real subprocesses)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def backend(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "backend", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("layout,units", [("a", "linear"), ("b", "db"), ("c", "linear")])
def test_info_reads_what_synth_wrote(tmp_path: Path, layout: str, units: str) -> None:
    out = tmp_path / layout
    done = backend("synth", "--region", "korea", "--size", "40", "--seed", "5", "--layout", layout,
                   "--units", units, "--start", "2022-05-01", "--end", "2022-07-31", "--out", str(out))
    assert done.returncode == 0, done.stderr
    scene = json.loads((out / "scene.json").read_text())
    rasters = sorted(str(p) for p in out.glob("*.tif") if p.name != "truth.tif")
    info = backend("info", *rasters)
    assert info.returncode == 0, info.stderr
    report = json.loads(info.stdout)
    assert report["layout"] == layout
    assert report["polarizations"] == ["VV", "VH"]
    written_dates = [d for d in scene["dates"] if d not in scene.get("missing_dates", [])]
    assert report["dates"]["VV"] == report["dates"]["VH"] == written_dates
    expected_unit = "dB" if units == "db" else "linear"
    assert set(report["units"].values()) == {expected_unit}
