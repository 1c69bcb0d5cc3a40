"""Settings: which interpreter runs the backend, "Check backend", and creating the backend environment.

When the environment is missing the plugin offers to run the project's own set-up
(``scripts/setup.sh backend``) as a background QgsTask instead of failing on import.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from qgis.core import Qgis, QgsApplication, QgsTask
from qgis.gui import QgsFileWidget
from qgis.PyQt import uic
from qgis.PyQt.QtWidgets import QDialog, QWidget

from .backend_client import BackendClient, BackendFailure, BackendRun, interpreter_problem
from .diagnostics import TITLE, gpu_summary, guarded, remember_backend_versions, tr
from .settings import PLUGIN_DIR, backend_python, default_backend_python, set_backend_python

FORM, _ = uic.loadUiType(str(Path(__file__).parent / "ui" / "settings_dialog.ui"))
SETUP_SCRIPT = PLUGIN_DIR / "scripts" / "setup.sh"


def format_versions(versions: dict) -> str:
    """A short human-readable summary of a `backend version` answer."""
    providers = ", ".join(versions.get("onnxruntime_providers", []))
    return "\n".join([
        tr("Backend {} works.").format(versions.get("backend", "?")),
        f"Python {versions.get('python', '?')}: {versions.get('interpreter', '?')}",
        f"torch {versions.get('torch', '?')}, onnxruntime {versions.get('onnxruntime', '?')} ({providers})",
        f"rasterio {versions.get('rasterio', '?')}, GDAL {versions.get('gdal', '?')}",
        tr("GPU detected: {}").format(gpu_summary(versions)),
    ])


class SettingsDialog(QDialog, FORM):
    def __init__(self, iface, parent: QWidget | None = None) -> None:
        super().__init__(parent or iface.mainWindow())
        self.iface = iface
        self.setupUi(self)
        self.setObjectName("s1ricemapper_settings")
        self.pythonPath.setStorageMode(QgsFileWidget.GetFile)
        self.pythonPath.setFilePath(str(backend_python()))
        self.check_run: BackendRun | None = None
        self.setup_task: SetupTask | None = None
        self.checkButton.clicked.connect(self.check_backend)
        self.createButton.clicked.connect(self.create_environment)
        self.defaultButton.clicked.connect(lambda: self.pythonPath.setFilePath(str(default_backend_python())))
        self.buttonBox.accepted.connect(self.save_and_close)
        self.buttonBox.rejected.connect(self.reject)
        self._show_problem_if_any()

    def selected_python(self) -> Path:
        return Path(self.pythonPath.filePath().strip() or default_backend_python())

    def _show_problem_if_any(self) -> bool:
        problem = interpreter_problem(self.selected_python())
        self.createButton.setVisible(bool(problem))
        if problem:
            self.reportText.setPlainText(problem + "\n" + tr(
                "Press 'Create backend environment' to install it into the plugin folder."))
        return bool(problem)

    @guarded
    def check_backend(self) -> None:
        if self._show_problem_if_any():
            return
        self.reportText.setPlainText(tr("Checking the backend (starting Python, importing torch)…"))
        self.checkButton.setEnabled(False)
        client = BackendClient(self.selected_python(), parent=self)
        self.check_run = client.call_async("version", [], self._on_versions, self._on_failure)
        self.check_run.finished.connect(lambda _ok: self.checkButton.setEnabled(True))

    @guarded
    def _on_versions(self, versions: dict) -> None:
        remember_backend_versions(versions)
        self.reportText.setPlainText(format_versions(versions))

    @guarded
    def _on_failure(self, failure: BackendFailure) -> None:
        self.reportText.setPlainText(failure.message + "\n\n" + failure.details())
        self.createButton.setVisible(failure.kind == "NotStarted")

    @guarded
    def create_environment(self) -> None:
        if self.setup_task is not None and self.setup_task.status() in (QgsTask.Queued, QgsTask.Running):
            self.iface.messageBar().pushWarning(TITLE, tr("The backend set-up is already running."))
            return
        self.setup_task = SetupTask(self.iface)
        QgsApplication.taskManager().addTask(self.setup_task)
        self.reportText.setPlainText(tr("Creating the backend environment in the background (see the task "
                                        "manager); this takes a few minutes."))

    @guarded
    def save_and_close(self) -> None:
        chosen = self.selected_python()
        set_backend_python(None if chosen == default_backend_python() else chosen)
        self.accept()


class SetupTask(QgsTask):
    """Runs ``scripts/setup.sh backend`` in a worker thread; reports the outcome in the message bar."""

    def __init__(self, iface) -> None:
        super().__init__(tr("S1 Rice Mapper: creating the backend environment"), QgsTask.CanCancel)
        self.iface = iface
        self.output = ""
        self.returncode: int | None = None

    def run(self) -> bool:
        if not SETUP_SCRIPT.exists():
            self.output = f"{SETUP_SCRIPT} is missing; reinstall the plugin."
            return False
        process = subprocess.Popen(["bash", str(SETUP_SCRIPT), "backend"], cwd=str(PLUGIN_DIR),
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        while process.poll() is None:
            if self.isCanceled():
                process.terminate()
            try:
                process.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                continue
        self.output = process.stdout.read() if process.stdout else ""
        self.returncode = process.returncode
        return process.returncode == 0

    def finished(self, ok: bool) -> None:  # main thread
        from .diagnostics import push_error

        if ok:
            self.iface.messageBar().pushMessage(TITLE, tr("Backend environment ready."), Qgis.Success, 10)
        else:
            push_error(self.iface, tr("Creating the backend environment failed (exit code {}).")
                       .format(self.returncode), "set-up output:\n" + self.output[-4000:])
