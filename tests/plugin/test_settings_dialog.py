"""Settings dialog: "Check backend" reports versions and GPU and explains a missing or broken backend; the
"Create backend environment" button builds the lean environment in the background (progress, cancel), then the
stale "does not exist" bar goes and the status and Settings show the real state."""

import importlib
import json
import os
import sys
import zipfile

import pytest
from conftest import plugin_package, wait_until
from setup_fixtures import LEAN_MAP_GAP, lean_map_gap, wheelhouse  # noqa: F401

SETTINGS_KEYS = ["s1ricemapper/env_dir", "s1ricemapper/wheelhouse", "s1ricemapper/backend_python",
                 "s1ricemapper/model_index"]


def _dialog(qgis_iface):
    plugin_package()
    from s1ricemapper.plugin.settings_dialog import SettingsDialog

    return SettingsDialog(qgis_iface)


@pytest.fixture
def clean_settings():
    """The dialog saves its choices in QgsSettings; put them back afterwards."""
    from qgis.core import QgsSettings

    before = {key: QgsSettings().value(key, None) for key in SETTINGS_KEYS}
    yield
    for key, value in before.items():
        if value is None:
            QgsSettings().remove(key)
        else:
            QgsSettings().setValue(key, value)


def test_check_backend_shows_versions_and_gpu(qgis_iface, backend_python_setting):
    dialog = _dialog(qgis_iface)
    dialog.check_backend()
    assert wait_until(lambda: "GPU detected" in dialog.reportText.toPlainText(), 60)
    text = dialog.reportText.toPlainText()
    assert "torch" in text and "onnxruntime" in text
    assert not dialog.createButton.isVisibleTo(dialog)


def test_missing_backend_offers_to_create_it(qgis_iface, tmp_path):
    dialog = _dialog(qgis_iface)
    dialog.pythonPath.setFilePath(str(tmp_path / "missing" / "python"))
    dialog.check_backend()
    text = dialog.reportText.toPlainText()
    assert "does not exist" in text and "Open Raster > S1 Rice Mapper" not in text  # already in Settings
    assert dialog.createButton.isVisibleTo(dialog)


def test_broken_backend_shows_stderr(qgis_iface, broken_backend_python):
    dialog = _dialog(qgis_iface)
    dialog.check_backend()
    assert wait_until(lambda: "No module named torch" in dialog.reportText.toPlainText(), 30)
    assert dialog.createButton.isVisibleTo(dialog)


def _point_at(dialog, target, wheels):
    setup = importlib.import_module("s1ricemapper.plugin.backend_setup")
    dialog.envDir.setFilePath(str(target))
    dialog.pythonPath.setFilePath(str(setup.env_python(target)))
    dialog.wheelhousePath.setFilePath(str(wheels))
    return dialog.refresh_state()


def test_create_environment_from_settings_then_no_stale_bar_and_map(qgis_iface, wheelhouse, tmp_path,  # noqa: F811
                                                                   clean_settings, synthetic_scene):
    """The headline through the GUI: Settings creates the lean environment offscreen, then the plugin's client maps
    rice with it (bundled default model)."""
    from qgis.core import Qgis
    from s1ricemapper.plugin.diagnostics import TITLE
    from s1ricemapper.plugin.settings import backend_python

    dialog = _dialog(qgis_iface)
    target = tmp_path / "data" / "backend-env"
    assert _point_at(dialog, target, wheelhouse)["state"] == "missing"
    assert dialog.createButton.text() == "Create backend environment" and dialog.createButton.isVisibleTo(dialog)
    bar = qgis_iface.messageBar()
    bar.pushMessage(TITLE, f"The backend interpreter {target}/bin/python does not exist.", Qgis.Critical, 0)
    percents = []
    dialog.createButton.click()
    dialog.setup_run.progress.connect(lambda message: percents.append(message["percent"]))
    assert dialog.cancelSetupButton.isVisibleTo(dialog) and not dialog.createButton.isEnabled()
    assert wait_until(lambda: "Backend environment ready" in dialog.reportText.toPlainText(), 400), \
        dialog.reportText.toPlainText()
    assert percents and percents == sorted(percents) and percents[-1] == 100
    assert not [item for item in bar.items() if "does not exist" in item.text()]  # the stale bar is gone
    assert "is ready" in dialog.stateLabel.text() and not dialog.createButton.isVisibleTo(dialog)
    assert backend_python() == target / "bin" / "python"  # saved: the map dialog and Processing use it now
    dialog.check_backend()
    assert wait_until(lambda: "GPU detected" in dialog.reportText.toPlainText(), 60), dialog.reportText.toPlainText()
    assert "torch not installed" in dialog.reportText.toPlainText()
    from s1ricemapper.plugin.backend_client import BackendClient, BackendError

    out = tmp_path / "map"
    try:
        result = BackendClient().call("map", ["--vv", str(synthetic_scene / "VV.tif"), "--vh",
                                              str(synthetic_scene / "VH.tif"), "--season", "2022-04-01",
                                              "2022-08-31", "--out", str(out)], timeout_s=300)
    except BackendError as err:
        if lean_map_gap(err.failure.message):
            pytest.fail(LEAN_MAP_GAP)
        raise
    assert result["rice_area_ha"] >= 0 and {"rice.tif", "rice.qml", "run.json"} <= {p.name for p in out.iterdir()}


def test_cancel_from_settings_leaves_nothing(qgis_iface, wheelhouse, tmp_path, clean_settings):  # noqa: F811
    dialog = _dialog(qgis_iface)
    target = tmp_path / "data" / "backend-env"
    _point_at(dialog, target, wheelhouse)
    dialog.extrasCombo.setCurrentIndex(0)
    dialog.createButton.click()
    dialog.setup_run.progress.connect(lambda m: m["stage"] == "plan" and dialog.cancelSetupButton.click())
    assert wait_until(lambda: "cancelled" in dialog.reportText.toPlainText(), 120), dialog.reportText.toPlainText()
    assert list((tmp_path / "data").iterdir()) == []
    assert dialog.refresh_state()["state"] == "missing"


def test_model_archive_name_is_read_from_the_archive(tmp_path):
    plugin_package()
    from s1ricemapper.plugin.settings_dialog import model_name_of_archive

    archive = tmp_path / "some-download (1).zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("simta-vv/card.json", "{}")
    assert model_name_of_archive(str(archive)) == "simta-vv"


def test_outdated_environment_is_noticed_at_start_with_an_update_button(qgis_iface, tmp_path, clean_settings):
    """After a plugin upgrade the stamp no longer matches: the plugin says so and its button opens the Settings."""
    from qgis.core import QgsSettings
    from qgis.PyQt.QtWidgets import QPushButton

    plugin_package()
    from s1ricemapper.plugin.settings_dialog import NOTICE, clear_backend_warnings, notify_backend_state

    env = tmp_path / "backend-env"
    (env / "bin").mkdir(parents=True)
    os.symlink(sys.executable, env / "bin" / "python")
    (env / "s1ricemapper-env.json").write_text(json.dumps({"plugin_version": "0.0.1", "requirements_hash": "0" * 64,
                                                           "extras": []}))
    QgsSettings().setValue("s1ricemapper/env_dir", str(env))
    QgsSettings().remove("s1ricemapper/backend_python")
    opened = []
    assert notify_backend_state(qgis_iface, lambda: opened.append(True)) == "outdated"
    bar = qgis_iface.messageBar()
    item = next(i for i in bar.items() if i.text() == NOTICE["outdated"])
    button = item.findChild(QPushButton, "s1ricemapper_setup_button")
    assert button.text() == "Update backend environment…"
    button.click()
    assert opened == [True]
    assert clear_backend_warnings(qgis_iface) >= 1
    assert not [i for i in bar.items() if i.text() == NOTICE["outdated"]]


PUBLISH = """
import json, shutil, sys
from pathlib import Path
from backend.modelstore.install import write_index
out = Path(sys.argv[1])
folder = out / "src" / "test-unet"  # the bundled U-Net under a name that is not bundled
shutil.copytree("models/unet", folder)
card = json.loads((folder / "card.json").read_text())
(folder / "card.json").write_text(json.dumps({**card, "name": "test-unet"}))
index = write_index([folder], out, out.as_uri())
(out / "index.json").write_text(json.dumps(index))
"""


def test_models_listed_and_installed_from_the_settings(qgis_iface, backend_python_setting, tmp_path,
                                                       monkeypatch, clean_settings):
    """Settings > Models: the index (a file URL here) is listed, a model installs from it, another from a file."""
    import subprocess

    from conftest import REPO, REPO_BACKEND_PYTHON

    published = tmp_path / "published"
    published.mkdir()
    done = subprocess.run([str(REPO_BACKEND_PYTHON), "-c", PUBLISH, str(published)], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    monkeypatch.setenv("S1RM_MODEL_DIR", str(tmp_path / "user-models"))  # inherited by the backend process
    dialog = _dialog(qgis_iface)
    dialog.indexEdit.setText((published / "index.json").as_uri())
    dialog.list_models()
    assert wait_until(lambda: dialog.modelCombo.count() == 1, 60), dialog.reportText.toPlainText()
    assert dialog.modelCombo.currentData() == "test-unet" and "MB" in dialog.modelCombo.currentText()
    dialog.install_model()
    assert wait_until(lambda: "installed in" in dialog.reportText.toPlainText(), 60), dialog.reportText.toPlainText()
    assert "verified against the index" in dialog.reportText.toPlainText()
    assert (tmp_path / "user-models" / "test-unet" / "model.onnx").is_file()
    broken = published / "broken.zip"
    broken.write_bytes(b"not a zip")
    dialog._start_model_install("test-unet", str(broken))
    assert wait_until(lambda: "previous model is kept" in dialog.reportText.toPlainText(), 60), \
        dialog.reportText.toPlainText()
    assert (tmp_path / "user-models" / "test-unet" / "model.onnx").is_file()  # the installed one is kept
