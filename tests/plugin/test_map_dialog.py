"""The Map rice dialog filled from real raster layers, with the real backend answering `info` and `version`."""

import os

import pytest
from conftest import plugin_package, wait_until, write_series
from qgis.core import QgsProject, QgsRasterLayer
from qgis.PyQt.QtWidgets import QPushButton


@pytest.fixture
def series_layers(tmp_path, qgis_new_project):
    vv = QgsRasterLayer(str(write_series(tmp_path / "S1_VV.tif", -9.0)), "S1 VV")
    vh = QgsRasterLayer(str(write_series(tmp_path / "S1_VH.tif", -16.0, seed=1)), "S1 VH")
    assert vv.isValid() and vh.isValid()
    QgsProject.instance().addMapLayers([vv, vh])
    return vv, vh


def make_dialog(qgis_iface):
    plugin_package()
    from s1ricemapper.plugin.map_dialog import MapRiceDialog

    dialog = MapRiceDialog(qgis_iface)
    dialog.refresh()
    return dialog


def test_dialog_fills_from_layers(qgis_iface, series_layers, backend_python_setting):
    dialog = make_dialog(qgis_iface)
    assert dialog.vvLayer.currentLayer() is series_layers[0]  # preselected from the names
    assert dialog.vhLayer.currentLayer() is series_layers[1]
    assert wait_until(lambda: dialog.pending == 0 and "dates" in dialog.infoText.toPlainText(), 90)
    info = dialog.infoText.toPlainText()
    assert "VV: 6 dates, 2022-04-05 to 2022-06-04" in info, info
    assert dialog.seasonStart.date().toString("yyyy-MM-dd") == "2022-04-05"
    assert dialog.seasonEnd.date().toString("yyyy-MM-dd") == "2022-06-04"
    assert dialog.gpuLabel.text().startswith("GPU detected: ")
    assert "checking" not in dialog.gpuLabel.text()
    assert "swapped" not in info


def test_swapped_inputs_warn(qgis_iface, series_layers, backend_python_setting):
    dialog = make_dialog(qgis_iface)
    dialog.vvLayer.setLayer(series_layers[1])
    dialog.vhLayer.setLayer(series_layers[0])
    assert wait_until(lambda: dialog.pending == 0 and "swapped" in dialog.infoText.toPlainText(), 90)
    assert "swapped" in dialog.statusLabel.text()


def _refused_output(dialog, folder) -> str:
    dialog.outputFolder.setFilePath(str(folder))
    dialog.start_run()
    assert not dialog.is_running()
    return dialog.statusLabel.text()


def test_output_folder_that_is_a_file_is_refused(qgis_iface, series_layers, backend_python_setting, tmp_path):
    dialog = make_dialog(qgis_iface)
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    assert "is not a folder" in _refused_output(dialog, blocker / "maps")
    wait_until(lambda: dialog.pending == 0, 60)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere, so a read-only folder cannot be shown")
def test_read_only_output_folder_is_refused(qgis_iface, series_layers, backend_python_setting, tmp_path):
    dialog = make_dialog(qgis_iface)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    assert "no permission" in _refused_output(dialog, locked / "maps")
    assert list(locked.iterdir()) == []
    wait_until(lambda: dialog.pending == 0, 60)


def test_broken_backend_shows_message_bar_error(qgis_iface, series_layers, broken_backend_python):
    dialog = make_dialog(qgis_iface)
    bar = qgis_iface.messageBar()
    assert wait_until(lambda: dialog.pending == 0, 30)
    items = [item for item in bar.items() if "incomplete" in item.text()]
    assert items, [item.text() for item in bar.items()]
    details = items[0].findChild(QPushButton, "s1ricemapper_details_button")
    report = details.property("report")
    assert str(broken_backend_python) in report and "command:" in report and "No module named torch" in report
    assert "unknown" in dialog.gpuLabel.text()
