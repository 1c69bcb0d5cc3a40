"""The overlap check behind docs/results/overlap.json scores real `map` runs against truth and one window."""

from __future__ import annotations

from backend.experiments.overlap_check import check_scene


def test_overlap_check_scores_each_overlap_against_truth_and_the_single_window(tmp_path):
    result = check_scene("mekong", 7, 320, (16, 8), tmp_path)
    assert result["reference_tile"] == 336 and [run["overlap"] for run in result["runs"]] == [16, 8]
    for run in result["runs"]:
        assert 0.0 <= run["f1"] <= 1.0 and 0.0 <= run["edge_f1"] <= 1.0
        assert 0.0 <= run["mean_abs_diff"] <= run["max_abs_diff"] <= 1.0
        assert run["n_tiles"] == 4 and run["max_abs_diff"] > 0  # 2 x 2 tiles: not the single window itself
        assert 0.99 <= run["label_agreement"] <= 1.0
        assert run["model_seconds"] > 0 and run["peak_rss_mb"] > 0
