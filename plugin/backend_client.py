"""Runs ``python -m backend <verb>`` in the backend interpreter and speaks its JSON-lines protocol.

QGIS must never freeze, so long runs use :class:`QProcess` (asynchronous, signals for every event);
short verbs (``version``, ``info``, ``models``) can also run blocking with a timeout. Cancel sends
SIGTERM (the backend stops at the next tile and discards partial outputs) and kills the process when
it has not stopped after a grace period. Every failure becomes a :class:`BackendFailure` that carries
what a diagnostics report needs: command line, exit code and the last lines of stderr.
"""

from __future__ import annotations

import json
import os
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from qgis.core import QgsTask
from qgis.PyQt.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, pyqtSignal

from .settings import PLUGIN_DIR, backend_python

EXIT_OK, EXIT_INTERNAL, EXIT_USER_ERROR, EXIT_CANCELLED = 0, 1, 2, 130
STDERR_TAIL_LINES = 40
CANCEL_GRACE_MS = 5000
SETUP_HINT = "Open S1 Rice Mapper > Settings and press 'Check backend' (it can create the backend environment)."


def parse_protocol_line(line: str, stderr_tail) -> dict | None:
    """One JSON-lines message from the backend's stdout, or None; stray text joins the stderr tail."""
    if not line:
        return None
    try:
        message = json.loads(line)
    except ValueError:
        stderr_tail.append(f"(stdout) {line}")
        return None
    return message if isinstance(message, dict) else None


@dataclass
class BackendFailure:
    """Why a backend run did not produce a result, with the facts a bug report needs."""

    message: str
    kind: str = "Error"  # UserError, Cancelled, InternalError, Crashed, NotStarted, Timeout, Protocol
    exit_code: int | None = None
    command: list[str] = field(default_factory=list)
    stderr_tail: list[str] = field(default_factory=list)

    @property
    def cancelled(self) -> bool:
        return self.kind == "Cancelled"

    def details(self) -> str:
        """The run-specific part of a diagnostics report."""
        lines = [f"kind: {self.kind}", f"exit code: {self.exit_code}",
                 "command: " + " ".join(_quote(a) for a in self.command), "", "last stderr lines:"]
        lines += self.stderr_tail or ["(none)"]
        return "\n".join(lines)


class BackendError(Exception):
    """Raised by blocking calls; ``failure`` holds the details."""

    def __init__(self, failure: BackendFailure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def _quote(arg: str) -> str:
    return f'"{arg}"' if (" " in arg or not arg) else arg


def interpreter_problem(python: Path) -> str | None:
    """Why ``python`` cannot be the backend interpreter, or None when it looks usable."""
    if not str(python):
        return "No backend interpreter is set. " + SETUP_HINT
    if not python.exists():
        return f"The backend interpreter {python} does not exist. " + SETUP_HINT
    if not os.access(python, os.X_OK):
        return f"The backend interpreter {python} is not executable. " + SETUP_HINT
    return None


class BackendRun(QObject):
    """One backend process. Connect to the signals, then call :meth:`start`.

    Exactly one of ``result`` or ``failed`` is emitted, then ``finished(ok)``.
    """

    progress = pyqtSignal(dict)  # {"stage", "done", "total", "eta", "message"}
    log = pyqtSignal(str)
    other_event = pyqtSignal(dict)  # any other event, e.g. {"event": "epoch", "loss": ..}
    result = pyqtSignal(dict)
    failed = pyqtSignal(object)  # BackendFailure
    finished = pyqtSignal(bool)

    def __init__(self, python: Path, verb: str, args: list[str], cwd: Path = PLUGIN_DIR,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.python = Path(python)
        self.verb = verb
        self.arguments = ["-m", "backend", verb, *[str(a) for a in args], "--progress", "json"]
        self.cwd = cwd
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self._stdout_buffer = b""
        self._stderr_buffer = b""
        self._result: dict | None = None
        self._error_event: dict | None = None
        self._cancel_requested = False
        self._done = False
        self.process = QProcess(self)
        self.process.setWorkingDirectory(str(cwd))
        self.process.setProcessEnvironment(_backend_environment())
        self.process.readyReadStandardOutput.connect(self._read_stdout)
        self.process.readyReadStandardError.connect(self._read_stderr)
        self.process.finished.connect(self._on_finished)
        self.process.errorOccurred.connect(self._on_error)
        self._kill_timer = QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.timeout.connect(self._kill)

    @property
    def command(self) -> list[str]:
        return [str(self.python), *self.arguments]

    def start(self) -> None:
        problem = interpreter_problem(self.python)
        if problem:
            # deferred, so callers that connect right after start() still get the signals
            QTimer.singleShot(0, lambda: self._finish_failed(BackendFailure(problem, "NotStarted",
                                                                            command=self.command)))
            return
        self.process.start(str(self.python), self.arguments)

    def is_running(self) -> bool:
        return not self._done

    def cancel(self) -> None:
        """Ask the backend to stop (SIGTERM); kill it if it is still alive after a grace period."""
        if self._done or self._cancel_requested:
            return
        self._cancel_requested = True
        if self.process.state() == QProcess.NotRunning:
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
            QCoreApplication.processEvents(QEventLoop.AllEvents, 50)
        QCoreApplication.processEvents()
        return self._done

    # --- process callbacks -------------------------------------------------------------------

    def _read_stdout(self) -> None:
        self._stdout_buffer += bytes(self.process.readAllStandardOutput())
        *lines, self._stdout_buffer = self._stdout_buffer.split(b"\n")
        for line in lines:
            self._handle_line(line.decode("utf-8", "replace").strip())

    def _read_stderr(self) -> None:
        self._stderr_buffer += bytes(self.process.readAllStandardError())
        *lines, self._stderr_buffer = self._stderr_buffer.split(b"\n")
        for line in lines:
            text = line.decode("utf-8", "replace").rstrip()
            if text and "\r" not in text:
                self.stderr_tail.append(text)

    def _handle_line(self, line: str) -> None:
        message = parse_protocol_line(line, self.stderr_tail)
        if message is None:
            return
        kind = message.get("event")
        if kind == "progress":
            self.progress.emit(message)
        elif kind == "log":
            self.log.emit(str(message.get("message", "")))
        elif kind == "result":
            self._result = {k: v for k, v in message.items() if k != "event"}
        elif kind == "error":
            self._error_event = message
        else:
            self.other_event.emit(message)

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.FailedToStart:
            self._finish_failed(BackendFailure(
                f"The backend interpreter {self.python} could not be started ({self.process.errorString()}). "
                + SETUP_HINT, "NotStarted", command=self.command))

    def _on_finished(self, exit_code: int, exit_status: QProcess.ExitStatus) -> None:
        self._kill_timer.stop()
        self._read_stdout()
        self._read_stderr()
        if self._stdout_buffer.strip():
            self._handle_line(self._stdout_buffer.decode("utf-8", "replace").strip())
        if exit_status == QProcess.NormalExit and exit_code == EXIT_OK and self._result is not None:
            self._done = True
            self.result.emit(self._result)
            self.finished.emit(True)
            return
        self._finish_failed(self._failure_for_exit(exit_code, exit_status))

    def _failure_for_exit(self, exit_code: int, exit_status: QProcess.ExitStatus) -> BackendFailure:
        tail = list(self.stderr_tail)
        if self._cancel_requested:
            return BackendFailure("Cancelled; no output was kept.", "Cancelled", exit_code, self.command, tail)
        if exit_status == QProcess.CrashExit:
            return BackendFailure(
                f"The backend process stopped unexpectedly while running '{self.verb}' (it crashed or was "
                "killed, for example for lack of memory; try a smaller tile size).", "Crashed", exit_code,
                self.command, tail)
        if self._error_event:
            return BackendFailure(str(self._error_event.get("message", "unknown error")),
                                  str(self._error_event.get("kind", "Error")), exit_code, self.command, tail)
        if any("No module named" in line for line in tail):
            return BackendFailure(f"The backend environment {self.python} is incomplete ({tail[-1]}). "
                                  + SETUP_HINT, "NotStarted", exit_code, self.command, tail)
        if exit_code == EXIT_OK:
            return BackendFailure(f"The backend finished '{self.verb}' without a result.", "Protocol",
                                  exit_code, self.command, tail)
        last = tail[-1] if tail else "no message"
        return BackendFailure(f"The backend failed running '{self.verb}' (exit code {exit_code}): {last}",
                              "InternalError", exit_code, self.command, tail)

    def _finish_failed(self, failure: BackendFailure) -> None:
        if self._done:
            return
        self._done = True
        self.failed.emit(failure)
        self.finished.emit(False)

    def _kill(self) -> None:
        if self.process.state() != QProcess.NotRunning:
            self.process.kill()


def _backend_environment() -> QProcessEnvironment:
    """QGIS's environment without the variables that would make the backend venv load QGIS's packages."""
    env = QProcessEnvironment.systemEnvironment()
    for name in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV"):
        env.remove(name)
    env.insert("PYTHONUNBUFFERED", "1")
    env.insert("PYTHONIOENCODING", "utf-8")
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

    def _call_done(self, run: BackendRun) -> None:
        self.pending -= 1
        run.deleteLater()


class BackendTask(QgsTask):
    """Shows a backend run in QGIS's task manager; cancelling the task cancels the run.

    The QProcess lives in the main thread; this task's worker thread only waits for it, so the task
    manager gets a progress bar and a cancel button without a second process driver.
    """

    def __init__(self, description: str, run: BackendRun) -> None:
        super().__init__(description, QgsTask.CanCancel)
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
