"""Settings: the backend environment (state, create / update / repair with progress and cancel), the interpreter,
"Check backend", and models on demand (model index, install from the index or from a file).

The set-up is :mod:`backend_setup` run by QGIS's own Python in a :class:`QProcess`, so QGIS never freezes and the
same code runs headless; model installs are the backend's ``models --install`` verb.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

from qgis.core import Qgis
from qgis.gui import QgsFileWidget
from qgis.PyQt import uic
from qgis.PyQt.QtCore import QObject, QProcess, QTimer, pyqtSignal
from qgis.PyQt.QtWidgets import QDialog, QFileDialog, QPushButton, QWidget

from . import backend_setup
from .backend_client import BackendClient, BackendFailure, BackendRun, interpreter_problem
from .diagnostics import TITLE, gpu_summary, guarded, remember_backend_versions, tr
from .settings import (
    ENV_DIR_KEY,
    MODEL_INDEX_KEY,
    WHEELHOUSE_KEY,
    backend_python,
    backend_state,
    default_backend_python,
    environment_dir,
    get_value,
    set_backend_python,
    set_value,
)

FORM, _ = uic.loadUiType(str(Path(__file__).parent / "ui" / "settings_dialog.ui"))
SETUP_MODULE = Path(backend_setup.__file__)
EXTRAS_CHOICES = [("", "Mapping only (ONNX Runtime, about 400 MB)"),
                  ("catalogue", "Mapping + Sentinel-1 download from STAC catalogues"),
                  ("training", "Mapping + PyTorch CPU (fine-tuning, heat map)"),
                  ("training,catalogue", "Mapping + PyTorch CPU + Sentinel-1 download"),
                  ("gpu", "Mapping + PyTorch for this machine's GPU (CUDA when an NVIDIA driver is found)"),
                  ("gpu,catalogue", "Mapping + PyTorch for the GPU + Sentinel-1 download"),
                  ("openvino", "Mapping + OpenVINO (faster CPU mapping on recent Intel Xeons, about 180 MB)")]
ACTION_TEXT = {"missing": "Create backend environment", "outdated": "Update backend environment",
               "broken": "Repair backend environment", "incomplete": "Repair backend environment"}
CANCEL_GRACE_MS = 30000


def format_versions(versions: dict) -> str:
    """A short human-readable summary of a `backend version` answer."""
    providers = ", ".join(versions.get("onnxruntime_providers", []))
    torch = versions.get("torch") or tr("not installed (only needed for fine-tuning and the heat map)")
    return "\n".join([
        tr("Backend {} works.").format(versions.get("backend", "?")),
        f"Python {versions.get('python', '?')}: {versions.get('interpreter', '?')}",
        f"onnxruntime {versions.get('onnxruntime', '?')} ({providers}), torch {torch}",
        f"rasterio {versions.get('rasterio', '?')}, GDAL {versions.get('gdal', '?')}",
        tr("GPU detected: {}").format(gpu_summary(versions)),
    ])


class SetupRun(QObject):
    """``backend_setup`` in a QProcess: JSON progress lines in, signals out; cancel through a cancel file."""

    progress = pyqtSignal(dict)
    done = pyqtSignal(dict)  # the result event, or {"event": "error", "kind", "message"}

    def __init__(self, args: list[str], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._scratch = tempfile.TemporaryDirectory(prefix="s1rm-setup-")
        self.cancel_file = Path(self._scratch.name) / "cancel"
        self.arguments = [str(SETUP_MODULE), *args, "--progress", "json", "--cancel-file", str(self.cancel_file)]
        self.outcome: dict | None = None
        self._buffer = b""
        self.process = QProcess(self)
        self.process.readyReadStandardOutput.connect(self._read)
        self.process.finished.connect(self._finished)
        self.process.errorOccurred.connect(self._error)

    def start(self) -> None:
        self.process.start(str(backend_setup.find_base_python()), self.arguments)

    def running(self) -> bool:
        return self.process.state() != QProcess.ProcessState.NotRunning

    def cancel(self) -> None:
        """Ask the set-up to stop cleanly; kill it only if it has not stopped after a grace period."""
        self.cancel_file.touch()
        QTimer.singleShot(CANCEL_GRACE_MS, self._kill)

    def _kill(self) -> None:
        if self.running():
            self.process.kill()

    def _read(self) -> None:
        self._buffer += bytes(self.process.readAllStandardOutput())
        *lines, self._buffer = self._buffer.split(b"\n")
        for raw in lines:
            try:
                message = json.loads(raw.decode("utf-8", "replace"))
            except ValueError:
                continue
            if message.get("event") == "progress":
                self.progress.emit(message)
            elif message.get("event") in ("result", "error"):
                self.outcome = message

    def _finished(self, code: int, _status=None) -> None:
        self._read()
        stderr = bytes(self.process.readAllStandardError()).decode("utf-8", "replace")[-2000:]
        outcome = self.outcome or {"event": "error", "kind": "Crashed",
                                   "message": tr("The set-up stopped (exit code {}).").format(code) + "\n" + stderr}
        self._scratch.cleanup()
        self.done.emit(outcome)

    def _error(self, error) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._scratch.cleanup()
            self.done.emit({"event": "error", "kind": "NotStarted",
                            "message": tr("Python could not be started for the set-up: {}").format(
                                self.process.errorString())})


class SettingsDialog(QDialog, FORM):
    def __init__(self, iface, parent: QWidget | None = None) -> None:
        super().__init__(parent or iface.mainWindow())
        self.iface = iface
        self.setupUi(self)
        self.setObjectName("s1ricemapper_settings")
        self.pythonPath.setStorageMode(QgsFileWidget.StorageMode.GetFile)
        self.pythonPath.setFilePath(str(backend_python()))
        self.envDir.setStorageMode(QgsFileWidget.StorageMode.GetDirectory)
        self.envDir.setFilePath(str(environment_dir()))
        self.wheelhousePath.setStorageMode(QgsFileWidget.StorageMode.GetDirectory)
        self.wheelhousePath.setFilePath(get_value(WHEELHOUSE_KEY))
        self.indexEdit.setText(get_value(MODEL_INDEX_KEY))
        for key, label in EXTRAS_CHOICES:
            self.extrasCombo.addItem(tr(label), key)
        self.check_run: BackendRun | None = None
        self.setup_run: SetupRun | None = None
        self.model_run: BackendRun | None = None
        self.checkButton.clicked.connect(self.check_backend)
        self.createButton.clicked.connect(self.create_environment)
        self.cancelSetupButton.clicked.connect(self.cancel_setup)
        self.defaultButton.clicked.connect(self._use_default)
        self.listModelsButton.clicked.connect(self.list_models)
        self.installModelButton.clicked.connect(self.install_model)
        self.installFileButton.clicked.connect(self.install_model_from_file)
        self.buttonBox.accepted.connect(self.save_and_close)
        self.buttonBox.rejected.connect(self.reject)
        self.setupProgress.setVisible(False)
        self.cancelSetupButton.setVisible(False)
        self.refresh_state()

    # --- state ---------------------------------------------------------------------------------------------------
    def selected_python(self) -> Path:
        return Path(self.pythonPath.filePath().strip() or default_backend_python())

    def selected_env_dir(self) -> Path:
        return Path(self.envDir.filePath().strip() or backend_setup.default_env_dir())

    def _use_default(self) -> None:
        self.envDir.setFilePath(str(backend_setup.default_env_dir()))
        self.pythonPath.setFilePath(str(backend_setup.env_python(backend_setup.default_env_dir())))
        self.refresh_state()

    def refresh_state(self) -> dict:
        """Show the environment's real state (from its files) and offer the action that fits it."""
        state = backend_setup.env_state(self.selected_env_dir())
        problem = interpreter_problem(self.selected_python())
        managed = self.selected_python() == backend_setup.env_python(self.selected_env_dir())
        if not managed and problem is None:
            state = {**state, "state": "custom",
                     "message": tr("The backend runs in {} (chosen below).").format(self.selected_python())}
        elif not managed and problem:
            state = {**state, "message": tr("The chosen backend interpreter {} does not exist; create the "
                                            "environment below or press 'Use default'.").format(self.selected_python())}
        self.stateLabel.setText(state["message"])
        running = self.setup_run is not None and self.setup_run.running()
        self.createButton.setText(tr(ACTION_TEXT.get(state["state"], "Reinstall backend environment")))
        self.createButton.setVisible(state["state"] != "ready" if managed else problem is not None)
        self.createButton.setEnabled(not running)
        self.cancelSetupButton.setVisible(running)
        return state

    # --- check ---------------------------------------------------------------------------------------------------
    @guarded
    def check_backend(self) -> None:
        problem = interpreter_problem(self.selected_python())
        if problem:
            state = self.refresh_state()
            self.reportText.setPlainText(state["message"] + "\n" + tr(
                "Press '{}' to install it (about 400 MB, a few minutes).").format(self.createButton.text()))
            self.createButton.setVisible(True)
            return
        self.reportText.setPlainText(tr("Checking the backend (starting Python, importing onnxruntime)…"))
        self.checkButton.setEnabled(False)
        client = BackendClient(self.selected_python(), parent=self)
        self.check_run = client.call_async("version", [], self._on_versions, self._on_failure)
        self.check_run.finished.connect(lambda _ok: self.checkButton.setEnabled(True))

    @guarded
    def _on_versions(self, versions: dict) -> None:
        remember_backend_versions(versions)
        self.reportText.setPlainText(format_versions(versions))
        self.refresh_state()

    @guarded
    def _on_failure(self, failure: BackendFailure) -> None:
        self.reportText.setPlainText(failure.message + "\n\n" + failure.details())
        self.refresh_state()
        self.createButton.setVisible(True)

    # --- set-up --------------------------------------------------------------------------------------------------
    @guarded
    def create_environment(self) -> None:
        if self.setup_run is not None and self.setup_run.running():
            self.iface.messageBar().pushWarning(TITLE, tr("The backend set-up is already running."))
            return
        args = ["--target", str(self.selected_env_dir())]
        for extra in filter(None, (self.extrasCombo.currentData() or "").split(",")):
            args += ["--extras", extra]
        wheelhouse = self.wheelhousePath.filePath().strip()
        if wheelhouse:
            args += ["--wheelhouse", wheelhouse]
        self.setup_run = SetupRun(args, parent=self)
        self.setup_run.progress.connect(self._on_setup_progress)
        self.setup_run.done.connect(self._on_setup_done)
        self.setupProgress.setValue(0)
        self.setupProgress.setVisible(True)
        self.reportText.setPlainText(tr("Setting up the backend environment in {}…").format(self.selected_env_dir()))
        try:
            self.setup_run.start()
        except backend_setup.SetupError as err:  # no Python to build with next to QGIS
            self.setupProgress.setVisible(False)
            self.reportText.setPlainText(str(err))
        self.refresh_state()

    @guarded
    def cancel_setup(self) -> None:
        if self.setup_run is not None and self.setup_run.running():
            self.setup_run.cancel()
            self.reportText.appendPlainText(tr("Cancelling…"))

    def _on_setup_progress(self, message: dict) -> None:
        self.setupProgress.setValue(int(message.get("percent") or 0))
        left = message.get("remaining_mb")
        text = tr("Step {} of {}: {}").format(message.get("step"), message.get("steps"), message.get("message", ""))
        if left:
            text += " " + tr("({:.0f} MB left to download)").format(left)
        self.stateLabel.setText(text)

    @guarded
    def _on_setup_done(self, outcome: dict) -> None:
        self.setupProgress.setVisible(False)
        if outcome.get("event") == "result":
            python = outcome["backend_python"]
            self.pythonPath.setFilePath(python)
            self._save_environment_choice()
            clear_backend_warnings(self.iface)
            self.reportText.setPlainText(tr("Backend environment ready: {} ({:.0f} MB, {:.0f} MB downloaded, {} s, "
                                            "installed with {}).").format(
                outcome["target"], outcome.get("env_mb", 0), outcome.get("download_mb", 0),
                outcome.get("seconds", "?"), outcome.get("installer", "?")))
            self.iface.messageBar().pushMessage(TITLE, tr("Backend environment ready."), Qgis.MessageLevel.Success, 10)
        elif outcome.get("kind") == "Cancelled":
            self.reportText.setPlainText(tr("Set-up cancelled; the environment was left as it was before."))
        else:
            self.reportText.setPlainText(outcome.get("message", ""))
            self.iface.messageBar().pushWarning(TITLE, outcome.get("message", "").splitlines()[0])
        self.refresh_state()

    def _save_environment_choice(self) -> None:
        env_dir = self.selected_env_dir()
        set_value(ENV_DIR_KEY, "" if env_dir == backend_setup.default_env_dir() else str(env_dir))
        set_value(WHEELHOUSE_KEY, self.wheelhousePath.filePath().strip())
        chosen = self.selected_python()
        set_backend_python(None if chosen == backend_setup.env_python(env_dir) else chosen)

    # --- models --------------------------------------------------------------------------------------------------
    def _index_args(self) -> list[str]:
        index = self.indexEdit.text().strip()
        return ["--index", index] if index else []

    @guarded
    def list_models(self) -> None:
        self.reportText.setPlainText(tr("Reading the model index…"))
        client = BackendClient(self.selected_python(), parent=self)
        self.model_run = client.call_async("models", ["--available", *self._index_args()], self._on_index,
                                           self._on_model_failure)

    @guarded
    def _on_index(self, answer: dict) -> None:
        self.modelCombo.clear()
        for entry in answer["models"]:
            status = tr("installed") if entry.get("installed") else f"{entry['size'] / 1e6:.1f} MB"
            self.modelCombo.addItem(f"{entry['name']} {entry.get('version', '')} ({status})", entry["name"])
        self.reportText.setPlainText(tr("{} models can be downloaded from {}.").format(
            len(answer["models"]), answer["index"]))

    @guarded
    def install_model(self, source: str | None = None) -> None:
        name = self.modelCombo.currentData()
        if not name:
            self.reportText.setPlainText(tr("Press 'List models' and pick a model first."))
            return
        self._start_model_install(name, source)

    @guarded
    def install_model_from_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, tr("Model archive"), "", tr("Model archives (*.zip)"))
        if path:
            self._start_model_install(model_name_of_archive(path), path)

    def _start_model_install(self, name: str, source: str | None) -> None:
        args = ["--install", name, *self._index_args(), *(["--from", source] if source else [])]
        client = BackendClient(self.selected_python(), parent=self)
        self.setupProgress.setValue(0)
        self.setupProgress.setVisible(True)
        self.reportText.setPlainText(tr("Installing model {}…").format(name))
        self.model_run = client.call_async("models", args, self._on_model_installed, self._on_model_failure)
        self.model_run.progress.connect(self._on_model_progress)

    def _on_model_progress(self, message: dict) -> None:
        if message.get("total"):
            self.setupProgress.setValue(int(100 * message.get("done", 0) / message["total"]))

    @guarded
    def _on_model_installed(self, result: dict) -> None:
        self.setupProgress.setVisible(False)
        self.reportText.setPlainText(tr("Model {} {} installed in {} (SHA-256 verified against the {}).").format(
            result["name"], result.get("version", ""), result["path"], result["verified_against"]))

    @guarded
    def _on_model_failure(self, failure: BackendFailure) -> None:
        self.setupProgress.setVisible(False)
        self.reportText.setPlainText(failure.message)

    @guarded
    def save_and_close(self) -> None:
        set_value(MODEL_INDEX_KEY, self.indexEdit.text().strip())
        self._save_environment_choice()
        self.accept()


def model_name_of_archive(path: str) -> str:
    """The model folder name inside a model archive (``<name>/card.json``), else the file's stem."""
    try:
        with zipfile.ZipFile(path) as archive:
            tops = {n.split("/", 1)[0] for n in archive.namelist() if "/" in n}
        if len(tops) == 1:
            return tops.pop()
    except (OSError, zipfile.BadZipFile):
        pass
    return Path(path).stem.rsplit("-", 1)[0]


NOTICE = {"missing": "The backend environment is not set up yet (about 400 MB, a few minutes).",
          "outdated": "The backend environment was made for another plugin version; update it.",
          "broken": "The backend environment was damaged (its Python is missing); repair it.",
          "incomplete": "The backend environment is incomplete (an interrupted set-up); repair it."}


def notify_backend_state(iface, open_settings: Callable[[], None]) -> str:
    """At start-up: when the managed environment is missing, outdated or damaged, say so in the message bar with a
    button that opens the Settings, where the matching action (create / update / repair) waits.

    Args:
        iface: QGIS's interface.
        open_settings: what the button calls (the plugin's Settings action).

    Returns:
        The state found (``ready``, ``custom``, ``missing``, ``outdated``, ...).
    """
    state = backend_state()
    if state["state"] not in NOTICE:
        return state["state"]
    bar = iface.messageBar()
    widget = bar.createMessage(TITLE, tr(NOTICE[state["state"]]))
    button = QPushButton(tr(ACTION_TEXT[state["state"]] + "…"), widget)
    button.setObjectName("s1ricemapper_setup_button")
    button.clicked.connect(open_settings)
    widget.layout().addWidget(button)
    bar.pushWidget(widget, Qgis.MessageLevel.Warning if state["state"] != "missing" else Qgis.MessageLevel.Info, 0)
    return state["state"]


def clear_backend_warnings(iface) -> int:
    """Remove this plugin's stale 'backend interpreter … does not exist' and set-up notice bars once it works."""
    bar = iface.messageBar()
    notices = set(NOTICE.values())
    stale = [item for item in list(bar.items()) if item.title() == TITLE and (
        "does not exist" in item.text() or "not executable" in item.text() or item.text() in notices)]
    for item in stale:
        bar.popWidget(item)
    return len(stale)
