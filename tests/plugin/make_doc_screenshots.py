"""Regenerate the screenshots of docs/plugin.md in a real QGIS desktop under Xvfb (not a test).

Usage: ``/usr/bin/python3 tests/plugin/make_doc_screenshots.py [OUT_DIR]`` (default ``docs/images``). Needs ``Xvfb``,
``qgis`` and the backend environment ``.venv``. It writes a synthetic Mekong scene with ``backend synth``,
starts ``Xvfb :99 -screen 0 1366x768x24`` and QGIS with a fresh profile, and runs itself inside QGIS
(``qgis --code``), where it loads the plugin and drives it as a user would: the Map rice dialog fresh (and
with OpenVINO in bf16 chosen in its Advanced group), a run, the dialog reopened, the result layers (and each result map alone), a temporal profile, and the
fine-tune panel mid-run. Screens are grabbed with Qt from the X server's root window. Fine-tuned models go
to a temporary ``S1RM_MODEL_DIR``. ``S1RM_DOC_STEPS=map`` skips the fine-tuning part (most of the time).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

DRIVER_ENV = "S1RM_DOC_DRIVER"
# inside QGIS (`qgis --code` runs the file's text, without __file__) the launcher passes the folder
REPO = Path(os.environ["S1RM_DOC_REPO"]) if os.environ.get(DRIVER_ENV) else Path(__file__).resolve().parents[2]
PACKAGE = "s1ricemapper"
SCREEN = (1366, 768)
DISPLAY = ":99"
SEASON = ("2022-04-01", "2022-08-31")  # the main rice season of the synthetic Mekong scene


# --- outside QGIS: prepare data, start Xvfb and QGIS ------------------------------------------------

def launch(out_dir: Path) -> int:
    work = Path(tempfile.mkdtemp(prefix="s1rm-doc-"))
    backend = REPO / ".venv" / "bin" / "python"
    scene = work / "scene"
    subprocess.run([str(backend), "-m", "backend", "synth", "--region", "mekong", "--size", "128", "--seed", "1",
                    "--out", str(scene)], cwd=REPO, check=True, capture_output=True)
    plugins = work / "profiles" / "profiles" / "default" / "python" / "plugins"
    plugins.mkdir(parents=True)
    (plugins / PACKAGE).symlink_to(REPO, target_is_directory=True)
    xvfb = subprocess.Popen(["Xvfb", DISPLAY, "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(2)
        # QGIS's embedded Python finds its home from the first python3 on PATH: keep the system one first
        path = os.pathsep.join(["/usr/bin", "/bin", os.environ.get("PATH", "")])
        env = dict(os.environ, PATH=path, DISPLAY=DISPLAY, QT_QPA_PLATFORM="xcb", S1RM_MODEL_DIR=str(work / "models"),
                   **{DRIVER_ENV: "1", "S1RM_DOC_REPO": str(REPO), "S1RM_DOC_SCENE": str(scene), "S1RM_DOC_OUT": str(out_dir.resolve()),
                      "S1RM_DOC_PLUGINS": str(plugins)})
        done = subprocess.run(["qgis", "--profiles-path", str(work / "profiles"), "--nologo", "--noversioncheck",
                               "--code", str(Path(__file__).resolve())], env=env, timeout=1800)
        error = out_dir / "driver_error.txt"
        if error.exists():
            print(error.read_text(), file=sys.stderr)
            return 1
        return done.returncode
    finally:
        xvfb.terminate()
        xvfb.wait(10)
        shutil.rmtree(work, ignore_errors=True)


# --- inside QGIS: drive the plugin -------------------------------------------------------------------

def wait_until(predicate, timeout_s: float = 300.0) -> bool:
    from qgis.PyQt.QtCore import QCoreApplication, QEventLoop

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        QCoreApplication.processEvents(QEventLoop.AllEvents, 50)
        time.sleep(0.02)
    return bool(predicate())


def settle(seconds: float = 1.0) -> None:
    wait_until(lambda: False, seconds)


def grab(path: Path, widget=None) -> None:
    """The whole screen (or one widget), as a small palette PNG."""
    from qgis.PyQt.QtGui import QImage
    from qgis.PyQt.QtWidgets import QApplication

    settle(1.0)
    pixmap = widget.grab() if widget is not None else QApplication.primaryScreen().grabWindow(0)
    image = pixmap.toImage().convertToFormat(QImage.Format_Indexed8)
    if not image.save(str(path), "PNG"):
        raise RuntimeError(f"could not write {path}")


def drive() -> None:
    from qgis.core import QgsProject, QgsRasterLayer, QgsSettings, QgsVectorLayer
    from qgis.PyQt.QtCore import QDate
    from qgis.utils import iface, loadPlugin, plugins, startPlugin

    out = Path(os.environ["S1RM_DOC_OUT"])
    out.mkdir(parents=True, exist_ok=True)
    scene = Path(os.environ["S1RM_DOC_SCENE"])
    sys.path.insert(0, os.environ["S1RM_DOC_PLUGINS"])
    QgsSettings().setValue("s1ricemapper/backend_python", str(REPO / ".venv" / "bin" / "python"))
    window = iface.mainWindow()
    window.setGeometry(0, 0, *SCREEN)  # Xvfb has no window manager to maximise it
    assert loadPlugin(PACKAGE) and startPlugin(PACKAGE), "the plugin did not start"
    plugin = plugins[PACKAGE]
    project = QgsProject.instance()
    vv = QgsRasterLayer(str(scene / "VV.tif"), "S1 VV")
    vh = QgsRasterLayer(str(scene / "VH.tif"), "S1 VH")
    labels = QgsVectorLayer(str(scene / "labels.gpkg"), "labels", "ogr")
    project.addMapLayers([vh, vv, labels])
    iface.mapCanvas().setExtent(vv.extent())

    dialog = open_map_dialog(plugin)
    grab(out / "map_dialog_1366x768.png")
    grab_engine_choices(dialog, out)
    grab_settings_extras(out)
    dialog.seasonAuto.setChecked(False)
    dialog.seasonStart.setDate(QDate.fromString(SEASON[0], "yyyy-MM-dd"))
    dialog.seasonEnd.setDate(QDate.fromString(SEASON[1], "yyyy-MM-dd"))
    dialog.referenceCheck.setChecked(True)
    dialog.referenceLayer.setLayer(labels)
    dialog.classField.setField("class")
    dialog.riceValue.setText("rice")
    dialog.outputFolder.setFilePath(str(Path(os.environ["S1RM_MODEL_DIR"]).parent / "maps"))
    dialog.start_run()
    assert wait_until(lambda: not dialog.is_running(), 900), dialog.statusLabel.text()
    assert dialog.last_group is not None, dialog.statusLabel.text()
    run_dir = Path(dialog.job.request.out_dir)
    dialog.close()

    dialog = open_map_dialog(plugin)  # reopened: the season and choices of the run are still there
    grab(out / "map_dialog_reopened.png")
    dialog.close()

    project.layerTreeRoot().findLayer(labels.id()).setItemVisibilityChecked(False)
    for layer in (vv, vh):  # their band legends would push the run's group out of view
        project.layerTreeRoot().findLayer(layer.id()).setExpanded(False)
    iface.mapCanvas().refreshAllLayers()
    wait_until(lambda: not iface.mapCanvas().isDrawing(), 60)
    grab(out / "result_layers.png")
    render_results(run_dir, scene, out)

    plugin.activate_profile_tool()  # a click inside a labelled rice field
    rice_field = next(f for f in labels.getFeatures() if f["class"] == "rice")
    plugin.profile_tool.show_at(rice_field.geometry().centroid().asPoint())
    grab(out / "temporal_profile.png", plugin.profile_tool.window)
    plugin.profile_tool.window.close()
    warned_run(plugin, out)

    if "finetune" not in os.environ.get("S1RM_DOC_STEPS", "finetune"):
        return
    plugin.toggle_finetune_dock()
    dock = plugin.finetune_dock
    assert wait_until(lambda: not dock.busy() and dock.baseModel.count() > 0, 120)
    dock.labelLayer.setLayer(labels)
    dock.seasonAuto.setChecked(False)
    dock.seasonStart.setDate(QDate.fromString(SEASON[0], "yyyy-MM-dd"))
    dock.seasonEnd.setDate(QDate.fromString(SEASON[1], "yyyy-MM-dd"))
    dock.epochsSpin.setValue(12)
    dock.patchSpin.setValue(32)
    dock.modelName.setText("doc-fte")
    dock.start()  # the backend's check first, then training
    points = lambda: len(dock.chart.series[0].points) if dock.chart.series else 0  # noqa: E731
    assert wait_until(lambda: points() >= 2 or not dock.busy(), 1200), dock.statusLabel.text()
    assert dock.is_running(), f"the run ended before the screenshot: {dock.statusLabel.text()}"
    wait_until(lambda: dock.clock is not None and (dock.clock.batch or (0, 0))[0] > 0, 300)  # into the epoch
    grab(out / "finetune_midrun.png")
    dock.cancel()
    wait_until(lambda: not dock.is_running(), 60)


def warned_run(plugin, out: Path) -> None:
    """A run whose season misses every rice cycle: the warnings in the message bar and on the layers."""
    from qgis.PyQt.QtCore import QDate
    from qgis.utils import iface

    iface.messageBar().clearWidgets()
    dialog = open_map_dialog(plugin)
    dialog.seasonAuto.setChecked(False)
    dialog.seasonStart.setDate(QDate(2022, 1, 1))
    dialog.seasonEnd.setDate(QDate(2022, 2, 28))
    dialog.referenceCheck.setChecked(False)
    assert wait_until(lambda: dialog.pending == 0, 120)
    grab(out / "map_dialog_season_warning.png")
    dialog.start_run()
    assert wait_until(lambda: not dialog.is_running(), 900), dialog.statusLabel.text()
    assert dialog.last_group is not None, dialog.statusLabel.text()
    dialog.close()
    settle(1.0)
    grab(out / "result_warning.png")


def grab_engine_choices(dialog, out: Path) -> None:
    """The Advanced group open with OpenVINO in bf16 chosen, then the defaults back for the run."""
    engine, precision = dialog.engineCombo.currentIndex(), dialog.precisionCombo.currentIndex()
    dialog.advancedGroup.setCollapsed(False)
    dialog.engineCombo.setCurrentIndex(dialog.engineCombo.findData("openvino"))
    dialog.precisionCombo.setCurrentIndex(dialog.precisionCombo.findData("bf16"))
    grab(out / "map_dialog_openvino_bf16.png", dialog)
    dialog.engineCombo.setCurrentIndex(engine)
    dialog.precisionCombo.setCurrentIndex(precision)
    dialog.advancedGroup.setCollapsed(True)


def grab_settings_extras(out: Path) -> None:
    """The Settings dialog with the OpenVINO extra chosen for the backend environment."""
    from qgis.utils import iface
    from s1ricemapper.plugin.settings_dialog import SettingsDialog

    settings = SettingsDialog(iface)
    settings.extrasCombo.setCurrentIndex(settings.extrasCombo.findData("openvino"))
    settings.show()
    grab(out / "settings_openvino_extra.png", settings)
    settings.close()


def open_map_dialog(plugin):
    plugin.open_map_dialog()
    dialog = plugin.map_dialog
    assert wait_until(lambda: dialog.pending == 0 and dialog.modelCombo.count() > 0
                      and "dates" in dialog.infoText.toPlainText(), 180), dialog.infoText.toPlainText()
    return dialog


def render_results(run_dir: Path, scene: Path, out: Path) -> None:
    """The rice, probability and error maps of the run, each on its own, as the plugin styled them."""
    from qgis.core import (
        QgsContrastEnhancement,
        QgsMapRendererParallelJob,
        QgsMapSettings,
        QgsMultiBandColorRenderer,
        QgsProject,
        QgsRasterLayer,
        QgsRasterMinMaxOrigin,
    )
    from qgis.PyQt.QtCore import QSize
    from qgis.PyQt.QtGui import QColor

    layers = {layer.name(): layer for layer in QgsProject.instance().mapLayers().values()
              if Path(layer.source()).parent == run_dir}
    backdrop = QgsRasterLayer(str(scene / "VH.tif"), "VH")
    backdrop.setRenderer(QgsMultiBandColorRenderer(backdrop.dataProvider(), 10, 25, 40))  # VH on three dates
    backdrop.setContrastEnhancement(QgsContrastEnhancement.StretchToMinimumMaximum,
                                    QgsRasterMinMaxOrigin.CumulativeCut)
    for name, stack in (("map_rice", [layers["rice"], backdrop]), ("map_probability", [layers["probability"]]),
                        ("map_heatmap", [layers["heatmap"]]), ("map_error", [layers["error"]])):
        settings = QgsMapSettings()
        settings.setLayers(stack)
        settings.setDestinationCrs(stack[0].crs())
        settings.setExtent(stack[0].extent())
        settings.setOutputSize(QSize(320, 320))
        settings.setBackgroundColor(QColor("white"))
        job = QgsMapRendererParallelJob(settings)
        job.start()
        job.waitForFinished()
        job.renderedImage().save(str(out / f"{name}.png"))


def run_in_qgis() -> None:
    from qgis.PyQt.QtCore import QTimer
    from qgis.PyQt.QtWidgets import QApplication

    def main() -> None:
        code = 0
        try:
            drive()
        except Exception:  # noqa: BLE001 - reported to the launcher, which exits non-zero
            Path(os.environ["S1RM_DOC_OUT"], "driver_error.txt").write_text(traceback.format_exc())
            code = 1
        QApplication.exit(code)

    QTimer.singleShot(3000, main)


if os.environ.get(DRIVER_ENV) == "1":
    run_in_qgis()
elif __name__ == "__main__":
    sys.exit(launch(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "images"))
