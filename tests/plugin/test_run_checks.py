"""What the backend finds doubtful, in the Map rice dialog: `info` findings before a run, the season `map`
will use, and run.json's warnings on the result layers. Real QGIS, real rasters, the real backend."""

import json

from conftest import run_backend, wait_until, write_series
from osgeo import gdal
from qgis.core import Qgis, QgsApplication, QgsLayerTreeModel, QgsProject
from qgis.PyQt.QtCore import QDate, Qt
from test_map_dialog import fresh_form_memory, make_dialog, wait_ready  # noqa: F401 (autouse fixture)


def files_dialog(qgis_iface, vv, vh):
    dialog = make_dialog(qgis_iface)
    dialog.set_files("VV", [str(vv)])
    dialog.set_files("VH", [str(vh)])
    wait_ready(dialog)
    return dialog


def run_to_end(dialog, out_folder) -> None:
    dialog.outputFolder.setFilePath(str(out_folder))
    dialog.start_run()
    assert wait_until(lambda: not dialog.is_running(), 180), dialog.statusLabel.text()
    assert dialog.last_group is not None, dialog.statusLabel.toolTip() or dialog.statusLabel.text()


def result_layers(group) -> dict:
    return {node.layer().name(): node.layer() for node in group.findLayers()}


def bar_items(qgis_iface, level) -> list[str]:
    return [item.text() for item in qgis_iface.messageBar().items() if item.level() == level]


def test_warnings_of_a_run_stay_with_its_layers(qgis_iface, qgis_new_project, user_models, backend_python_setting,
                                                tmp_path):
    # the "VV" file is 7 dB darker than the "VH" file: swapped, which the backend warns about (input_checks)
    vv = write_series(tmp_path / "first.tif", -16.0)
    vh = write_series(tmp_path / "second.tif", -9.0, seed=1)
    dialog = files_dialog(qgis_iface, vv, vh)
    info = dialog.infoText.toPlainText()
    assert "⚠ VV and VH look swapped" in info, info  # shown before Run, as a warning
    assert "border" not in dialog.vvLayer.styleSheet()  # a warning outlines nothing
    dialog.modelCombo.setCurrentIndex(dialog.modelCombo.findData("tiny-unet"))
    dialog.tileSpin.setValue(32)
    dialog.overlapSpin.setValue(8)
    run_to_end(dialog, tmp_path / "maps")
    run = json.loads(next((tmp_path / "maps").glob("rice_map_*/run.json")).read_text())
    recorded = [c["message"] for c in run["input_checks"]] + run["checks"]["warnings"]
    assert any("swapped" in m for m in recorded), recorded
    group = dialog.last_group
    assert group.name().endswith("⚠")
    # pushed once the task manager's line is over, so QGIS's "Task complete" never covers it
    assert wait_until(lambda: any(group.name() in w and "swapped" in w
                                  for w in bar_items(qgis_iface, Qgis.MessageLevel.Warning)), 30), \
        bar_items(qgis_iface, Qgis.MessageLevel.Warning)
    model = QgsLayerTreeModel(QgsProject.instance().layerTreeRoot())
    for name, layer in result_layers(group).items():
        for message in recorded:  # every warning is kept with every layer of the run
            assert message in layer.abstract() and message in layer.metadata().abstract(), name
            assert message in layer.customProperty("s1ricemapper/warnings")
        tooltip = model.data(model.node2index(group.findLayer(layer.id())), Qt.ItemDataRole.ToolTipRole)
        assert "swapped" in tooltip, tooltip  # what the Layers panel shows on hover, after the bar is gone
    assert "warning" in dialog.statusLabel.text()


def test_a_plausible_run_shows_no_warning(qgis_iface, qgis_new_project, synthetic_scene, backend_python_setting,
                                          tmp_path):
    qgis_iface.messageBar().clearWidgets()  # the bar is shared by the tests of the session
    dialog = files_dialog(qgis_iface, synthetic_scene / "VV.tif", synthetic_scene / "VH.tif")
    assert "⚠" not in dialog.infoText.toPlainText() and "✖" not in dialog.infoText.toPlainText()
    run_to_end(dialog, tmp_path / "maps")  # the default model
    run = json.loads(next((tmp_path / "maps").glob("rice_map_*/run.json")).read_text())
    assert run["checks"]["ok"] and not run["input_checks"], run["checks"]
    assert not dialog.last_group.name().endswith("⚠")
    wait_until(lambda: QgsApplication.taskManager().countActiveTasks() == 0, 30)
    assert bar_items(qgis_iface, Qgis.MessageLevel.Warning) == []
    for layer in result_layers(dialog.last_group).values():
        assert layer.abstract() == "" and layer.customProperty("s1ricemapper/warnings") is None


def test_a_finding_that_refuses_the_run_outlines_the_inputs(qgis_iface, qgis_new_project, backend_python_setting,
                                                            tmp_path):
    vv = write_series(tmp_path / "km_VV.tif", -9.0)
    vh = write_series(tmp_path / "km_VH.tif", -16.0, seed=1)
    for path in (vv, vh):  # 1 km pixels: not Sentinel-1, the backend refuses (pixel size 5-100 m)
        dataset = gdal.Open(str(path), gdal.GA_Update)
        dataset.SetGeoTransform((580000.0, 1000.0, 0.0, 1150000.0, 0.0, -1000.0))
        dataset = None
    dialog = files_dialog(qgis_iface, vv, vh)
    info = dialog.infoText.toPlainText()
    assert "✖ km_VH.tif" in info or "✖ km_VV.tif" in info, info
    assert "1000 x 1000 m" in info and info.count("pixels are 1000") == 1  # listed once, as an error
    assert "border" in dialog.vvLayer.styleSheet() and "border" in dialog.vhLayer.styleSheet()
    assert dialog.statusLabel.text().startswith("✖ The run would be refused")
    good_vv = write_series(tmp_path / "S1_VV.tif", -9.0)
    good_vh = write_series(tmp_path / "S1_VH.tif", -16.0, seed=1)
    dialog.set_files("VV", [str(good_vv)])
    dialog.set_files("VH", [str(good_vh)])
    wait_ready(dialog)
    assert "✖" not in dialog.infoText.toPlainText()
    assert "border" not in dialog.vvLayer.styleSheet() and not dialog.statusLabel.text().startswith("✖")


def test_automatic_season_shows_the_detected_cycle(qgis_iface, qgis_new_project, synthetic_scene,
                                                   backend_python_setting, tmp_path):
    files = ["--vv", str(synthetic_scene / "VV.tif"), "--vh", str(synthetic_scene / "VH.tif")]
    done = run_backend("map", *files, "--out", str(tmp_path / "x"), "--check-only", "--progress", "json")
    details = json.loads(done.stdout.splitlines()[-1])["details"]
    assert details["season_choice"]["reason"] == "detected-main"
    start, end = details["season"]
    dialog = files_dialog(qgis_iface, synthetic_scene / "VV.tif", synthetic_scene / "VH.tif")
    assert dialog.seasonAuto.isChecked() and not dialog.seasonStart.isEnabled()
    assert (dialog.seasonStart.date(), dialog.seasonEnd.date()) == (QDate.fromString(start, Qt.DateFormat.ISODate),
                                                                   QDate.fromString(end, Qt.DateFormat.ISODate))
    hint = dialog.seasonHint.toolTip() or dialog.seasonHint.text()
    assert f"main detected rice cycle, {start} to {end}" in hint.replace("\u200b", ""), hint
    dialog.seasonAuto.setChecked(False)  # the user's own dates start from the detected window
    assert dialog.seasonStart.date().toString(Qt.DateFormat.ISODate) == start
    dialog.seasonStart.setDate(QDate(2022, 1, 1))  # a window that misses every detected cycle
    dialog.seasonEnd.setDate(QDate(2022, 2, 28))
    assert wait_until(lambda: dialog.pending == 0, 60)
    hint = (dialog.seasonHint.toolTip() or dialog.seasonHint.text()).replace("\u200b", "")
    assert "covers no detected rice crop cycle" in hint and "color" in dialog.seasonHint.styleSheet(), hint
    dialog.seasonStart.setDate(QDate(2022, 4, 1))  # covers a cycle: the run snaps to it, and says so
    dialog.seasonEnd.setDate(QDate(2022, 8, 31))
    assert wait_until(lambda: dialog.pending == 0, 60)
    hint = (dialog.seasonHint.toolTip() or dialog.seasonHint.text()).replace("\u200b", "")
    assert "Season 2022-04-01 to 2022-08-31" in hint and "detected rice crop(s) this season holds" in hint, hint
    assert "color" not in dialog.seasonHint.styleSheet()
