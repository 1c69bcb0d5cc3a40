"""Blocking backend runs for Processing algorithms (the blocking transport of a backend :class:`Session`).

Processing runs an algorithm in a worker thread (or in qgis_process's main thread) and expects
``processAlgorithm`` to return only when the work is done, so a Qt event loop around a QProcess does
not fit here. This runner starts ``python -m backend <verb> --progress json`` with the same interpreter
lookup and environment as the GUI, feeds its output into the shared :class:`~..backend_session.Session`
(protocol, failure classification, exit codes) and the events into a :class:`QgsProcessingFeedback`, and
terminates the process as soon as the user cancels: the backend then discards its half-written outputs,
so nothing appears under a final name. Messages name parameters as Processing does (``name_of``).
"""

from __future__ import annotations

import os
import queue

# the plugin's own backend interpreter runs with an argument list, never through a shell
import subprocess  # nosec B404
import threading
from pathlib import Path
from typing import Any, Callable, Iterable

from qgis.core import QgsProcessingException, QgsProcessingFeedback

from ..backend_session import (
    CANCEL_GRACE_MS,
    SETUP_HINT,
    BackendFailure,
    Session,
    backend_arguments,
    backend_environment,
    interpreter_problem,
)
from ..settings import PLUGIN_DIR, backend_python

POLL_S = 0.1


class BackendCancelled(QgsProcessingException):
    """The user cancelled; the backend discarded its partial outputs."""


class BackendProcessingError(QgsProcessingException):
    """A backend failure inside Processing; ``failure`` holds the parameter key and diagnostics."""

    def __init__(self, failure: BackendFailure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def backend_command(verb: str, args: Iterable[Any], python: Path | None = None) -> list[str]:
    """The full command line of one backend verb with the JSON-lines protocol."""
    return [str(python or backend_python()), *backend_arguments(verb, list(args))]


def run_backend(verb: str, args: Iterable[Any], feedback: QgsProcessingFeedback | None = None,
                python: Path | None = None, name_of: Callable[[str], str] | None = None) -> dict:
    """Run one backend verb to completion and return its result.

    Raises:
        BackendCancelled: the user cancelled.
        BackendProcessingError: any other failure; its message names parameters by ``name_of``.
    """
    python = Path(python or backend_python())
    command = backend_command(verb, args, python)
    session = Session(verb, command, name_of, on_log=feedback.pushInfo if feedback else None,
                      on_progress=_ProgressReport(feedback) if feedback else None,
                      on_event=(lambda m: _report_event(feedback, m)) if feedback else None)
    problem = interpreter_problem(python)
    if problem:
        raise BackendProcessingError(session.not_started(problem))
    if feedback is not None:
        feedback.pushCommandInfo(" ".join(command))
    try:
        process = subprocess.Popen(  # nosec B603
            command, cwd=str(PLUGIN_DIR), env=backend_environment(os.environ), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="replace", bufsize=1)
    except OSError as error:  # e.g. not a program ("Exec format error") although it exists and is executable
        raise BackendProcessingError(session.not_started(
            f"The backend interpreter {python} cannot be started ({error.strerror or error}). " + SETUP_HINT)) from None
    exit_code = _pump(process, session, feedback)
    failure = session.failure(exit_code)
    if failure is None:
        return session.result or {}
    if failure.cancelled:
        raise BackendCancelled(failure.message)
    raise BackendProcessingError(failure)


def _pump(process: subprocess.Popen, session: Session, feedback: QgsProcessingFeedback | None) -> int:
    """Feed stdout lines to the session in this thread (feedback is not thread-safe), stderr from a helper
    thread; terminate the process when the user cancels. Returns the exit code."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump_stdout() -> None:
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    def pump_stderr() -> None:
        for line in process.stderr:
            session.line("stderr", line)

    threading.Thread(target=pump_stdout, daemon=True).start()
    stderr_thread = threading.Thread(target=pump_stderr, daemon=True)
    stderr_thread.start()
    while True:
        if feedback is not None and feedback.isCanceled() and not session.cancel_requested:
            session.cancel()
            _stop(process)
        try:
            line = lines.get(timeout=POLL_S)
        except queue.Empty:
            continue
        if line is None:
            break
        session.line("stdout", line)
    exit_code = process.wait()
    stderr_thread.join(timeout=2)
    for stream in (process.stdout, process.stderr):
        stream.close()
    return exit_code


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=CANCEL_GRACE_MS / 1000)
    except subprocess.TimeoutExpired:
        process.kill()


class _ProgressReport:
    """Progress events -> the feedback's progress bar and, per new stage, its progress text."""

    def __init__(self, feedback: QgsProcessingFeedback) -> None:
        self.feedback = feedback
        self.stage = ""

    def __call__(self, message: dict) -> None:
        stage = str(message.get("stage", ""))
        if stage != self.stage:
            self.stage = stage
            self.feedback.setProgressText(stage)
        total = float(message.get("total") or 0)
        if total > 0:
            self.feedback.setProgress(min(100.0, 100.0 * float(message.get("done", 0)) / total))


def _report_event(feedback: QgsProcessingFeedback, message: dict) -> None:
    fields = ", ".join(f"{k} {_short(v)}" for k, v in message.items() if k != "event")
    feedback.pushInfo(f"{message.get('event')}: {fields}")


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."
