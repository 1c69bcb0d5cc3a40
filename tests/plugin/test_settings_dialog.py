"""Settings dialog: "Check backend" reports versions and GPU, and explains a missing or broken backend."""

from conftest import plugin_package, wait_until


def _dialog(qgis_iface):
    plugin_package()
    from s1ricemapper.plugin.settings_dialog import SettingsDialog

    return SettingsDialog(qgis_iface)


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
    assert "does not exist" in dialog.reportText.toPlainText()
    assert dialog.createButton.isVisibleTo(dialog)


def test_broken_backend_shows_stderr(qgis_iface, broken_backend_python):
    dialog = _dialog(qgis_iface)
    dialog.check_backend()
    assert wait_until(lambda: "No module named torch" in dialog.reportText.toPlainText(), 30)
    assert dialog.createButton.isVisibleTo(dialog)
