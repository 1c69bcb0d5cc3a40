"""The Map rice dialog filled from real raster layers, with the real backend answering `info` and `version`."""

import json
import os

import pytest
from conftest import REPO, backend_setting, plugin_package, wait_until, write_series
from qgis.core import QgsProject, QgsRasterLayer, QgsSettings
from qgis.PyQt.QtCore import QDate, QPoint
from qgis.PyQt.QtWidgets import QPushButton

_DIALOGS: list = []  # dialogs made by make_dialog, deleted after each test


@pytest.fixture(autouse=True)
def fresh_form_memory():
    """Each test starts without remembered dialog choices and leaves none behind, nor any dialog."""
    from qgis.PyQt.QtCore import QCoreApplication, QEvent

    QgsSettings().remove("s1ricemapper/map")
    yield
    QgsSettings().remove("s1ricemapper/map")
    while _DIALOGS:
        dialog = _DIALOGS.pop()
        wait_until(lambda d=dialog: d.pending == 0, 60)  # no backend call outlives its dialog
        dialog.shutdown()
        dialog.hide()
        dialog.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)


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
    _DIALOGS.append(dialog)
    dialog.refresh()
    return dialog


def test_dialog_fills_from_layers(qgis_iface, series_layers, backend_python_setting):
    dialog = make_dialog(qgis_iface)
    assert dialog.vvLayer.currentLayer() is series_layers[0]  # preselected from the names
    assert dialog.vhLayer.currentLayer() is series_layers[1]
    assert wait_until(lambda: dialog.pending == 0 and "dates" in dialog.infoText.toPlainText(), 90)
    info = dialog.infoText.toPlainText()
    assert "VV: 6 dates, 2022-04-05 to 2022-06-04" in info, info
    assert dialog.seasonAuto.isChecked()  # the contract's default: the backend chooses the season
    assert "2022-04-05 to 2022-06-04" in dialog.seasonHint.text()
    dialog.seasonAuto.setChecked(False)  # unticked: the model's 150-day season ending at the last date
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


def wait_ready(dialog) -> None:
    assert wait_until(lambda: dialog.pending == 0 and dialog.modelCombo.count() > 0 and "dates" in
                      dialog.infoText.toPlainText(), 90), dialog.infoText.toPlainText()


def test_reopening_keeps_season_model_and_settings(qgis_iface, series_layers, backend_python_setting,
                                                     artifacts_dir):
    """Walkthrough defect 1: reopening silently reset the season to the whole data range."""
    dialog = make_dialog(qgis_iface)
    dialog.show()
    wait_ready(dialog)
    dialog.seasonAuto.setChecked(False)
    dialog.seasonStart.setDate(QDate(2022, 4, 17))
    dialog.seasonEnd.setDate(QDate(2022, 5, 23))
    dialog.modelCombo.setCurrentIndex(dialog.modelCombo.findData("simta-data"))
    dialog.tileSpin.setValue(128)
    assert dialog.precisionCombo.currentData() == "f32"  # the contract's default
    assert [dialog.precisionCombo.itemData(i) for i in range(dialog.precisionCombo.count())] == ["f32", "bf16"]
    dialog.engineCombo.setCurrentIndex(dialog.engineCombo.findData("openvino"))
    dialog.precisionCombo.setCurrentIndex(dialog.precisionCombo.findData("bf16"))
    args = dialog._form_request(str(artifacts_dir / "unused")).map_args()
    assert args[args.index("--engine") + 1] == "openvino" and args[args.index("--precision") + 1] == "bf16"
    dialog.close()
    dialog.show()  # the same dialog again: `info` is asked again and must not touch the season
    wait_ready(dialog)
    assert (dialog.seasonStart.date(), dialog.seasonEnd.date()) == (QDate(2022, 4, 17), QDate(2022, 5, 23))
    dialog.close()
    again = make_dialog(qgis_iface)  # a new dialog (as after restarting QGIS) starts from the stored choices
    again.show()
    wait_ready(again)
    assert not again.seasonAuto.isChecked()
    assert (again.seasonStart.date(), again.seasonEnd.date()) == (QDate(2022, 4, 17), QDate(2022, 5, 23))
    assert again.modelCombo.currentData() == "simta-data" and again.tileSpin.value() == 128
    assert again.engineCombo.currentData() == "openvino" and again.precisionCombo.currentData() == "bf16"
    assert "Season 2022-04-17 to 2022-05-23" in again.seasonHint.text()
    again.grab().save(str(artifacts_dir / "map_dialog_reopened.png"))
    again.seasonStart.setDate(QDate(2023, 1, 1))  # outside the data: a visible warning, the dates stay
    again.seasonEnd.setDate(QDate(2023, 3, 1))
    assert "No acquisition falls in the season 2023-01-01 to 2023-03-01" in again.seasonHint.text()
    assert again.seasonStart.date() == QDate(2023, 1, 1)
    again.close()


def test_model_list_default_first_grouped_with_real_figures(qgis_iface, series_layers, backend_python_setting):
    """Walkthrough defect 2: the default model first and recommended, families, real-data figures."""
    default = json.loads((REPO / "models" / "default.json").read_text())["default"]
    dialog = make_dialog(qgis_iface)
    wait_ready(dialog)
    combo = dialog.modelCombo
    assert combo.currentData() == default
    models = [combo.itemData(i) for i in range(combo.count()) if combo.itemData(i)]
    headings = [combo.itemText(i) for i in range(combo.count()) if combo.itemData(i) is None]
    assert models[0] == default and "recommended" in combo.itemText(combo.findData(default))
    assert headings[0] == "Recommended" and "SimTA" in headings and len(headings) == len(set(headings))
    for i in range(combo.count()):
        if combo.itemData(i) is None:
            assert not combo.model().item(i).isEnabled()  # a heading cannot be chosen
    card = next(c for c in dialog.cards if c.name == default)
    assert (dialog.fusionScheme.currentData(), dialog.fusionMethod.currentData()) == (card.scheme, card.method)
    key, f1 = card.real_figure()
    assert key.startswith("real_") and f"real-data F1 {f1:.3f}" in combo.itemText(combo.findData(default))
    bundled = [c for c in dialog.cards if c.card.get("bundled")]
    assert bundled and not any("fine-tuned" in c.label() for c in bundled)
    dialog.show_card()
    assert wait_until(lambda: dialog.card_viewer is not None, 60)
    text = dialog.card_viewer.text.toPlainText()
    assert "Polarizations" in text and "Metrics" in text and "{" not in text, text[:400]
    dialog.card_viewer.close()


def test_long_messages_do_not_widen_the_dialog(qgis_iface, series_layers, backend_python_setting):
    """Walkthrough defect 4: a long message made the dialog 1650 px wide, Close off-screen."""
    plugin_package()
    from s1ricemapper.plugin.diagnostics import set_message

    dialog = make_dialog(qgis_iface)
    wait_ready(dialog)
    dialog.show()
    width_before = dialog.minimumSizeHint().width()
    path = "/very/long/" + "/".join(f"folder_number_{i}" for i in range(60)) + "/VV.tif"
    set_message(dialog.statusLabel, f"The backend could not read {path}: " + "unexpected value " * 80)
    set_message(dialog.gpuLabel, "GPU detected: unknown (" + path + ")")
    assert dialog.minimumSizeHint().width() <= max(width_before, 700), dialog.minimumSizeHint()
    dialog.resize(dialog.minimumSizeHint().width(), 700)  # a 1366 x 768 screen less the title bar and panel
    close = dialog.closeButton
    corner = close.mapTo(dialog, QPoint(close.width(), close.height()))
    assert dialog.rect().contains(corner) and close.isVisible(), (corner, dialog.size())
    assert dialog.statusLabel.toolTip().startswith("The backend could not read")  # the whole text stays
    dialog.close()


def test_backend_bar_goes_when_the_backend_works(qgis_iface, series_layers, broken_backend_python):
    """The dialog checks the backend again when shown; a stale failure bar is withdrawn."""
    dialog = make_dialog(qgis_iface)
    bar = qgis_iface.messageBar()
    assert wait_until(lambda: dialog.pending == 0, 30)
    assert dialog._backend_bars and all(w in bar.items() for w in dialog._backend_bars)
    stale = list(dialog._backend_bars)
    if not (REPO / ".venv" / "bin" / "python").exists():
        pytest.skip("backend environment missing")
    with backend_setting(REPO / ".venv" / "bin" / "python"):
        dialog.show()  # showEvent checks again
        wait_ready(dialog)
        assert not any(w in bar.items() for w in stale)
        assert "unknown" not in dialog.gpuLabel.text()
    dialog.close()


def test_seasons_panel_hook_without_and_with_a_panel(qgis_iface, qgis_new_project, monkeypatch):
    """The dialog embeds plugin/seasons_panel.py when present and works without it."""
    import sys
    import types

    plugin_package()
    from qgis.PyQt.QtCore import pyqtSignal
    from qgis.PyQt.QtWidgets import QWidget
    from s1ricemapper.plugin import map_dialog

    holder = QWidget()
    chosen = []
    monkeypatch.setattr(map_dialog, "SEASONS_PANEL_MODULE", "no_such_seasons_panel")
    assert map_dialog.embed_seasons_panel(holder, lambda *a: chosen.append(a)) is None and holder.isHidden()

    class Panel(QWidget):  # the interface the seasons helper's widget offers
        seasonChosen = pyqtSignal(str, str)

        def set_inputs(self, vv_paths, vh_paths):
            self.inputs = (vv_paths, vh_paths)

    module = types.ModuleType("s1ricemapper.plugin.test_seasons_panel")
    module.Panel = Panel
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(map_dialog, "SEASONS_PANEL_MODULE", "test_seasons_panel")
    holder = QWidget()
    panel = map_dialog.embed_seasons_panel(holder, lambda *a: chosen.append(a))
    assert isinstance(panel, Panel) and panel.parent() is holder
    panel.seasonChosen.emit("2022-04-01", "2022-08-31")
    assert chosen == [("2022-04-01", "2022-08-31")]


def test_backend_check_refuses_before_the_run_in_the_dialogs_words(qgis_iface, series_layers,
                                                                    backend_python_setting, tmp_path):
    """The dialog's last check is the backend's own (`map --check-only`): its message names the field."""
    dialog = make_dialog(qgis_iface)
    wait_ready(dialog)
    dialog.outputFolder.setFilePath(str(tmp_path / "maps"))
    dialog.tileSpin.setValue(20)  # inside the contract's range, but not a multiple of the model's 8 px
    dialog.start_run()
    assert dialog.is_running() and dialog.job is None  # being checked, not started
    dialog.start_run()  # pressed again while the backend checks: said, and nothing else starts
    assert "already being computed" in dialog.statusLabel.text() and dialog.job is None
    assert wait_until(lambda: not dialog.is_running(), 90), dialog.statusLabel.text()
    status = dialog.statusLabel.toolTip() or dialog.statusLabel.text()
    assert dialog.job is None and "Tile size" in status and "--tile" not in status, status
    assert "border" in dialog.tileSpin.styleSheet()  # the field at fault is pointed at
    assert not (tmp_path / "maps").exists()  # nothing written
