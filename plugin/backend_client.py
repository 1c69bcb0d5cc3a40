"""Runs ``python -m backend <verb>`` in the backend interpreter and speaks its JSON-lines protocol.

QGIS must never freeze, so long runs use :class:`QProcess` (asynchronous, signals for every event);
short verbs (``version``, ``info``, ``models``) can also run blocking with a timeout. Cancel sends
SIGTERM (the backend stops at the next tile and discards partial outputs) and kills the process when
it has not stopped after a grace period. Every failure becomes a :class:`BackendFailure` that carries
what a diagnostics report needs: command line, exit code and the last lines of stderr.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any, Callable

from qgis.core import QgsTask
from qgis.PyQt.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, pyqtSignal

from .backend_session import (
    CANCEL_GRACE_MS,
    EXIT_CANCELLED,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_USER_ERROR,
    SETUP_HINT,
    STDERR_TAIL_LINES,
    BackendFailure,
    Session,
    backend_arguments,
    backend_environment,
    interpreter_problem,
)
from .contract_view import render_message
from .settings import PLUGIN_DIR, backend_python

__all__ = ["CANCEL_GRACE_MS", "EXIT_CANCELLED", "EXIT_INTERNAL", "EXIT_OK", "EXIT_USER_ERROR", "SETUP_HINT",
           "STDERR_TAIL_LINES", "BackendClient", "BackendError", "BackendFailure", "BackendRun", "BackendTask",
           "interpreter_problem"]


class BackendError(Exception):
    """Raised by blocking calls; ``failure`` holds the details."""

    def __init__(self, failure: BackendFailure) -> None:
        super().__init__(failure.message)
        self.failure = failure


class BackendRun(QObject):
    """One backend process driven by a :class:`QProcess` (the GUI transport of a :class:`Session`).

    Connect to the signals, then call :meth:`start`. Exactly one of ``result`` or ``failed`` is emitted,
    then ``finished(ok)``. ``name_of`` renders parameter keys in messages (default: the contract's labels).
    """

    progress = pyqtSignal(dict)  # {"stage", "done", "total", "eta", "message"}
    log = pyqtSignal(str)
    other_event = pyqtSignal(dict)  # any other event, e.g. {"event": "epoch", "loss": ..}
    result = pyqtSignal(dict)
    failed = pyqtSignal(object)  # BackendFailure
    finished = pyqtSignal(bool)

    def __init__(self, python: Path, verb: str, args: list[str], cwd: Path = PLUGIN_DIR,
                 parent: QObject | None = None, name_of: Callable[[str], str] | None = None) -> None:
        super().__init__(parent)
        self.python = Path(python)
        self.verb = verb
        self.arguments = backend_arguments(verb, args)
        self.cwd = cwd
        self.session = Session(verb, self.command, name_of or _label_of(verb), on_progress=self.progress.emit,
                               on_log=self.log.emit, on_event=self.other_event.emit)
        self._done = False
        self.task: QgsTask | None = None  # its line in QGIS's task manager, when it has one
        self.process = QProcess(self)
        self.process.setWorkingDirectory(str(cwd))
        self.process.setProcessEnvironment(_qprocess_environment())
        self.process.readyReadStandardOutput.connect(
            lambda: self.session.feed("stdout", bytes(self.process.readAllStandardOutput())))
        self.process.readyReadStandardError.connect(
            lambda: self.session.feed("stderr", bytes(self.process.readAllStandardError())))
        self.process.finished.connect(self._on_finished)
        self.process.errorOccurred.connect(self._on_error)
        self._kill_timer = QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.timeout.connect(self._kill)

    @property
    def command(self) -> list[str]:
        return [str(self.python), *self.arguments]

    @property
    def stderr_tail(self) -> deque:
        return self.session.stderr_tail

    def start(self) -> None:
        problem = interpreter_problem(self.python)
        if problem:
            # deferred, so callers that connect right after start() still get the signals
            QTimer.singleShot(0, lambda: self._finish_failed(self.session.not_started(problem)))
            return
        self.process.start(str(self.python), self.arguments)

    def is_running(self) -> bool:
        return not self._done

    def cancel(self) -> None:
        """Ask the backend to stop (SIGTERM); kill it if it is still alive after a grace period."""
        if self._done or self.session.cancel_requested:
            return
        self.session.cancel()
        if self.process.state() == QProcess.ProcessState.NotRunning:
            return
        self.process.terminate()
        self._kill_timer.start(CANCEL_GRACE_MS)

    def wait(self, timeout_s: float) -> bool:
        """Process Qt events until the run is over (for blocking helpers and tests)."""
        from qgis.PyQt.QtCore import QCoreApplication, QElapsedTimer, QEventLoop

        clock = QElapsedTimer()
        clock.start()
        while not self._done and clock.elapsed() < timeout_s * 1000:
            self.process.waitForFinished(50)
            QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        QCoreApplication.processEvents()
        return self._done

    # --- process callbacks -------------------------------------------------------------------

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._finish_failed(self.session.not_started(
                f"The backend interpreter {self.python} could not be started ({self.process.errorString()}). "
                + SETUP_HINT))

    def _on_finished(self, exit_code: int, exit_status: QProcess.ExitStatus) -> None:
        self._kill_timer.stop()
        self.session.feed("stdout", bytes(self.process.readAllStandardOutput()))
        self.session.feed("stderr", bytes(self.process.readAllStandardError()))
        self.session.close()
        failure = self.session.failure(exit_code, crashed=exit_status == QProcess.ExitStatus.CrashExit)
        if failure is not None:
            self._finish_failed(failure)
            return
        self._done = True
        self.result.emit(self.session.result)
        self.finished.emit(True)

    def _finish_failed(self, failure: BackendFailure) -> None:
        if self._done:
            return
        self._done = True
        self.failed.emit(failure)
        self.finished.emit(False)

    def _kill(self) -> None:
        if self.process.state() != QProcess.ProcessState.NotRunning:
            self.process.kill()


def _label_of(verb: str) -> Callable[[str], str]:
    """Parameter keys named by the contract's labels (the dialog's words), quoted."""
    return lambda key: render_message("{param:" + key + "}", verb)


def _qprocess_environment() -> QProcessEnvironment:
    """QGIS's environment as the backend needs it (:func:`.backend_session.backend_environment`)."""
    system = QProcessEnvironment.systemEnvironment()
    env = QProcessEnvironment()
    for name, value in backend_environment({k: system.value(k) for k in system.keys()}).items():
        env.insert(name, value)
    return env


class BackendClient(QObject):
    """Starts backend runs in the configured interpreter; refuses a second long run while one runs."""

    def __init__(self, python: Path | None = None, cwd: Path = PLUGIN_DIR, parent: QObject | None = None):
        super().__init__(parent)
        self._python = Path(python) if python else None
        self.cwd = cwd
        self.pending = 0  # quick calls in flight (call_async); tests and busy indicators read it

    @property
    def python(self) -> Path:
        return self._python or backend_python()

    def run(self, verb: str, args: list[str] | None = None) -> BackendRun:
        """A run that is not started yet: connect its signals, then call ``start()``."""
        return BackendRun(self.python, verb, list(args or []), self.cwd, parent=self)

    def call(self, verb: str, args: list[str] | None = None, timeout_s: float = 120.0) -> dict:
        """Run a quick verb to completion (events are processed meanwhile); raise BackendError on failure."""
        run = self.run(verb, args)
        outcome: dict[str, Any] = {}
        run.result.connect(lambda value: outcome.setdefault("result", value))
        run.failed.connect(lambda failure: outcome.setdefault("failure", failure))
        run.start()
        if not run.wait(timeout_s):
            run.cancel()
            run._kill()
            raise BackendError(BackendFailure(
                f"The backend did not answer '{verb}' within {timeout_s:.0f} s.", "Timeout",
                command=run.command, stderr_tail=list(run.stderr_tail)))
        if "failure" in outcome:
            raise BackendError(outcome["failure"])
        return outcome["result"]

    def call_async(self, verb: str, args: list[str] | None, on_result: Callable[[dict], None],
                   on_failure: Callable[[BackendFailure], None]) -> BackendRun:
        """Start a quick verb and hand its result or failure to callbacks (keeps the dialog responsive)."""
        run = self.run(verb, args)
        run.result.connect(on_result)
        run.failed.connect(on_failure)
        run.finished.connect(lambda _ok: self._call_done(run))
        self.pending += 1
        run.start()
        return run

    def check_async(self, verb: str, args: list[str], on_ok: Callable[[dict], None],
                    on_failure: Callable[[BackendFailure], None]) -> BackendRun:
        """The backend's own checks of a run before it starts (``<verb> … --check-only``): the contract's
        ranges and choices, the inputs opened, dates and model looked at; nothing is written. A failure
        carries ``param`` (the field to highlight) and a message in the dialog's words."""
        return self.call_async(verb, [*args, "--check-only"], on_ok, on_failure)

    def _call_done(self, run: BackendRun) -> None:
        self.pending -= 1
        run.deleteLater()


class BackendTask(QgsTask):
    """Shows a backend run in QGIS's task manager; cancelling the task cancels the run.

    The QProcess lives in the main thread; this task's worker thread only waits for it, so the task
    manager gets a progress bar and a cancel button without a second process driver.
    """

    def __init__(self, description: str, run: BackendRun) -> None:
        super().__init__(description, QgsTask.Flag.CanCancel)
        import threading

        self.backend_run = run
        self._over = threading.Event()
        run.progress.connect(self._on_progress)
        run.finished.connect(lambda _ok: self._over.set())
        run.destroyed.connect(lambda _obj=None: self._over.set())

    def _on_progress(self, message: dict) -> None:
        total = message.get("total") or 0
        if total:
            self.setProgress(100.0 * float(message.get("done", 0)) / float(total))

    def run(self) -> bool:  # worker thread
        while not self._over.wait(0.1):
            if self.isCanceled():
                self._over.wait(CANCEL_GRACE_MS / 1000 + 2)
                return False
        return True

    def cancel(self) -> None:  # main thread (task manager's cancel button)
        self.backend_run.cancel()
        super().cancel()
