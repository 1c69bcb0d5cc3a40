"""``s1ricemapper:finetune`` in a real QGIS: labelled polygons of a synthetic scene -> a new model that
``maprice`` accepts; an existing name and a wrong class field are refused before any work."""

from __future__ import annotations

import json
from pathlib import Path

import processing
import pytest
from conftest import REPO
from qgis.core import QgsApplication, QgsProcessingContext, QgsProcessingFeedback
from test_processing_fixtures import SEASON, final_names, map_parameters, provider, scene, tiny_model  # noqa: F401

pytestmark = pytest.mark.skipif(not (REPO / "backend" / "commands" / "finetune.py").exists(),
                                reason="the backend has no finetune verb in this checkout")


class LogFeedback(QgsProcessingFeedback):
    def __init__(self) -> None:
        super().__init__()
        self.infos: list[str] = []

    def pushInfo(self, info: str) -> None:  # noqa: N802 (virtual in QgsProcessingFeedback)
        self.infos.append(info)


FTE = ("RI", "FT", "FTE", "FTD").index("FTE")  # the enum follows the contract's choices (tested there)


def finetune_parameters(scene: Path, base: Path, out: Path, **extra) -> dict:
    return {"LABELS": str(scene / "labels.gpkg"), "CLASS_FIELD": "class", "RICE_VALUES": "rice",
            "VV": [str(scene / "VV.tif")], "VH": [str(scene / "VH.tif")], "SEASON_START": SEASON[0],
            "SEASON_END": SEASON[1], "BASE_MODEL": str(base), "MODE": FTE, "EPOCHS": 1, "NAME": "local-rice",
            "OUTPUT_FOLDER": str(out), **extra}


def test_finetune_makes_a_model_that_maprice_uses(provider, scene, tiny_model, tmp_path):  # noqa: F811
    feedback = LogFeedback()
    results = processing.run("s1ricemapper:finetune", finetune_parameters(scene, tiny_model, tmp_path, TIME_SHIFT=2),
                             feedback=feedback)
    folder = Path(results["MODEL_FOLDER"])
    assert folder == tmp_path / "local-rice" and results["MODEL_NAME"] == "local-rice"
    card = json.loads((folder / "card.json").read_text())
    assert card["base_model"] == "tiny-unet"
    assert card["training"]["time_shift"] == 2  # the advanced parameter reached the backend
    assert card["training"]["mode"] == "FTE"
    assert results["VAL_F1"] is not None and 0.0 <= results["VAL_F1"] <= 1.0
    assert any(info.startswith("epoch: epoch 1") for info in feedback.infos), feedback.infos
    processing.run("s1ricemapper:maprice", map_parameters(scene, folder, tmp_path / "map", WITH_HEATMAP=False))
    assert "rice.tif" in final_names(tmp_path / "map")

    algorithm = QgsApplication.processingRegistry().algorithmById("s1ricemapper:finetune")
    ok, message = algorithm.checkParameterValues(
        finetune_parameters(scene, tiny_model, tmp_path, CLASS_FIELD="crop"), QgsProcessingContext())
    assert not ok and "no field 'crop'" in message  # QGIS's check of the loaded layer comes first
    ok, message = algorithm.checkParameterValues(finetune_parameters(scene, tiny_model, tmp_path),
                                                 QgsProcessingContext())
    assert not ok and "local-rice already exists; pass OVERWRITE" in message  # the backend's --check-only
    assert "--" not in message
