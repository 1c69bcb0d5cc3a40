"""The re-export check (backend.experiments.reexport_check) times a bundled graph against its re-export."""

from __future__ import annotations

import json

from backend.experiments.reexport_check import main
from backend.modelstore import BUNDLED_DIR


def test_a_reexported_copy_computes_what_the_bundled_graph_computes_and_leaves_the_bundle_alone(tmp_path):
    bundled = (BUNDLED_DIR / "simta-vv" / "model.onnx").read_bytes()
    out = tmp_path / "check.json"
    assert main(["--only", "simta-vv", "--tile", "64", "--rounds", "1", "--threads", "1", "--out", str(out)]) == 0
    result = json.loads(out.read_text())["models"]["simta-vv"]
    assert result["largest_output_difference"] < 1e-5
    assert result["old_s"]["median"] > 0 and result["new_s"]["median"] > 0
    assert (BUNDLED_DIR / "simta-vv" / "model.onnx").read_bytes() == bundled  # only the copy was re-exported
