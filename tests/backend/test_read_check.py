"""The read check behind docs/results/read_check.json: every kind of pass reads the same input, and the
sessions it compares differ only in ONNX Runtime's spinning after a call."""

from __future__ import annotations

import json

from backend.experiments import read_check
from backend.modelstore.onnx_io import SPINNING_STOP, session_options

PASSES = ["reads_only_sequential", "reads_only_parallel"] + [
    f"between_model_calls_{order}_spinning_stop_{stop}" for stop in ("off", "on") for order in ("sequential", "parallel")]


def test_map_sessions_stop_spinning_after_a_call():
    assert session_options(1).get_session_config_entry(SPINNING_STOP) == "1"


def test_every_pass_reads_identical_input_and_times_the_model_apart(tmp_path):
    out = tmp_path / "read.json"
    assert read_check.main(["--size", "160", "--rounds", "1", "--threads", "1", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["identical_input"] is True
    (record,) = result["rounds"]
    assert [key for key in record if isinstance(record[key], dict)] == PASSES
    for key in PASSES:
        assert record[key]["read_seconds"] > 0 and record[key]["read_cpu_seconds"] > 0
        assert ("model_seconds" in record[key]) == key.startswith("between_model_calls")
