"""The grouped-dates check (backend.experiments.grouped_dates_check) compares export forms of one function."""

from __future__ import annotations

import json

import pytest

from backend.experiments.grouped_dates_check import FORMS, main


def test_every_form_computes_what_the_dates_in_batch_form_computes_and_is_profiled(tmp_path):
    out = tmp_path / "check.json"
    assert main(["--tile", "16", "--rounds", "1", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result["largest_difference_from_dates_in_batch"]) == set(FORMS)
    assert max(result["largest_difference_from_dates_in_batch"].values()) < 1e-5
    for form in FORMS:
        profile = result["one_thread_profile"][form]
        assert 0.0 <= profile["reorder_share"] <= 1.0 and profile["kernel_seconds_per_call"] > 0
        assert result["seconds_per_call"]["2_threads"][form]["median"] > 0
    nodes = {form: result["one_thread_profile"][form]["nodes_per_call"] for form in FORMS}
    if nodes["dates_in_batch"]["ReorderOutput"]:  # a CPU where ONNX Runtime uses its blocked layout
        # the grouped form's first convolution (2 channels per date) runs outside it, so its input is reordered
        assert nodes["dates_as_groups"]["ReorderInput"] > nodes["dates_in_batch"]["ReorderInput"]


def test_a_tile_too_small_is_refused_naming_the_option(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--tile", "4", "--out", str(tmp_path / "check.json")])
    assert stop.value.code == 2
    assert "--tile" in capsys.readouterr().err
    assert not (tmp_path / "check.json").exists()
