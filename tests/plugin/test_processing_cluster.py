"""`s1ricemapper:maprice` with its CLUSTER parameter: the run goes through a Dask LocalCluster and gives
the same outputs as the single-process run (the backend side is tested in tests/backend/test_distributed*)."""

from __future__ import annotations

import json

import processing
from qgis.core import QgsProcessingFeedback
from test_processing_fixtures import final_names, map_parameters, provider, read_band, scene, tiny_model  # noqa: F401


class Progress(QgsProcessingFeedback):
    """Keeps the progress values and texts the algorithm reported."""

    def __init__(self) -> None:
        super().__init__()
        self.values: list[float] = []
        self.texts: list[str] = []
        self.progressChanged.connect(self.values.append)

    def setProgressText(self, text: str) -> None:  # noqa: N802 (virtual in QgsProcessingFeedback)
        self.texts.append(text)


def test_maprice_on_a_local_cluster_matches_the_plain_run(provider, scene, tiny_model, tmp_path):  # noqa: F811
    import numpy as np

    plain, clustered = tmp_path / "plain", tmp_path / "cluster"
    processing.run("s1ricemapper:maprice", map_parameters(scene, tiny_model, plain, HEATMAP=False))
    feedback = Progress()
    processing.run("s1ricemapper:maprice", map_parameters(scene, tiny_model, clustered, HEATMAP=False,
                                                          CLUSTER="local:1", BLOCK=256), feedback=feedback)
    run = json.loads((clustered / "run.json").read_text())
    assert run["distributed"]["cluster"] == "local:1" and run["distributed"]["workers"] == 1
    assert final_names(clustered) == final_names(plain)
    for name in ("probability.tif", "rice.tif"):
        assert np.array_equal(read_band(plain / name), read_band(clustered / name), equal_nan=True), name
    assert feedback.values and max(feedback.values) == 100.0
    assert {"map", "assemble"} <= set(feedback.texts)  # the blocks stage, then the assembly
