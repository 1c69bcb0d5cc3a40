"""Blocking backend runs for Processing algorithms.

Processing runs an algorithm in a worker thread (or in qgis_process's main thread) and expects
``processAlgorithm`` to return only when the work is done, so a Qt event loop around a QProcess does
not fit here. This runner starts ``python -m backend <verb> --progress json`` with the same
interpreter lookup, environment and failure wording as :mod:`..backend_client`, feeds the JSON lines
into a :class:`QgsProcessingFeedback`, and terminates the process as soon as the user cancels: the
backend then discards its half-written outputs, so nothing appears under a final name.
"""

from __future__ import annotations

import queue
# the plugin's own backend interpreter runs with an argument list, never through a shell
import subprocess  # nosec B404
import threading
from collections import deque
from pathlib import Path
from typing import Any, Iterable

from qgis.core import QgsProcessingException, QgsProcessingFeedback

from ..backend_client import (CANCEL_GRACE_MS, EXIT_CANCELLED, EXIT_OK, SETUP_HINT, STDERR_TAIL_LINES,
                              _backend_environment, interpreter_problem, parse_protocol_line)
from ..settings import PLUGIN_DIR, backend_python

POLL_S = 0.1


class BackendCancelled(QgsProcessingException):
    """The user cancelled; the backend discarded its partial outputs."""


def backend_environment() -> dict[str, str]:
    """The plugin client's backend environment (no QGIS PYTHONPATH) as a plain dict for subprocess."""
    env = _backend_environment()
    return {name: env.value(name) for name in env.keys()}


def backend_command(verb: str, args: Iterable[Any], python: Path | None = None) -> list[str]:
    python = python or backend_python()
    return [str(python), "-m", "backend", verb, *[str(a) for a in args], "--progress", "json"]


def run_backend(verb: str, args: Iterable[Any], feedback: QgsProcessingFeedback | None = None,
                python: Path | None = None) -> dict:
    """Run one backend verb to completion and return its result; raise QgsProcessingException otherwise."""
    python = Path(python or backend_python())
    problem = interpreter_problem(python)
    if problem:
        raise QgsProcessingException(problem)
    command = backend_command(verb, args, python)
    if feedback is not None:
        feedback.pushCommandInfo(" ".join(command))
    process = subprocess.Popen(  # nosec B603
        command, cwd=str(PLUGIN_DIR), env=backend_environment(), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="replace", bufsize=1)
    session = _Session(process, feedback)
    return session.finish(verb)


class _Session:
    """Reads one backend process's stdout (JSON lines) and stderr (tail) until it exits or is cancelled."""

    def __init__(self, process: subprocess.Popen, feedback: QgsProcessingFeedback | None) -> None:
        self.process = process
        self.feedback = feedback
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self.result: dict | None = None
        self.error: dict | None = None
        self.stage = ""
        self.cancelled = False
        threading.Thread(target=self._pump_stdout, daemon=True).start()
        self._stderr_thread = threading.Thread(target=self._pump_stderr, daemon=True)
        self._stderr_thread.start()

    def _pump_stdout(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _pump_stderr(self) -> None:
        for line in self.process.stderr:
            text = line.rstrip()
            if text and "\r" not in text:
                self.stderr_tail.append(text)

    def finish(self, verb: str) -> dict:
        while True:
            if self.feedback is not None and self.feedback.isCanceled() and not self.cancelled:
                self._cancel()
            try:
                line = self.lines.get(timeout=POLL_S)
            except queue.Empty:
                continue
            if line is None:
                break
            self._handle(line.strip())
        exit_code = self.process.wait()
        self._stderr_thread.join(timeout=2)
        for stream in (self.process.stdout, self.process.stderr):
            stream.close()
        return self._outcome(verb, exit_code)

    def _cancel(self) -> None:
        self.cancelled = True
        self.process.terminate()
        try:
            self.process.wait(timeout=CANCEL_GRACE_MS / 1000)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def _handle(self, line: str) -> None:
        message = parse_protocol_line(line, self.stderr_tail)
        if message is None:
            return
        kind = message.pop("event", None)
        if kind == "result":
            self.result = message
        elif kind == "error":
            self.error = message
        elif self.feedback is not None:
            self._report(kind, message)

    def _report(self, kind: str | None, message: dict) -> None:
        feedback = self.feedback
        if kind == "progress":
            stage = str(message.get("stage", ""))
            if stage != self.stage:
                self.stage = stage
                feedback.setProgressText(stage)
            total = float(message.get("total") or 0)
            if total > 0:
                feedback.setProgress(min(100.0, 100.0 * float(message.get("done", 0)) / total))
        elif kind == "log":
            feedback.pushInfo(str(message.get("message", "")))
        else:
            fields = ", ".join(f"{k} {_short(v)}" for k, v in message.items())
            feedback.pushInfo(f"{kind}: {fields}")

    def _outcome(self, verb: str, exit_code: int) -> dict:
        tail = list(self.stderr_tail)
        if self.cancelled or exit_code == EXIT_CANCELLED:
            raise BackendCancelled("Cancelled; the backend kept no output.")
        if exit_code == EXIT_OK and self.result is not None:
            return self.result
        if self.error:
            raise QgsProcessingException(str(self.error.get("message", "unknown error")))
        if any("No module named" in line for line in tail):
            raise QgsProcessingException(f"The backend environment is incomplete ({tail[-1]}). " + SETUP_HINT)
        if exit_code < 0:
            raise QgsProcessingException(
                f"The backend process stopped unexpectedly while running '{verb}' (killed by signal "
                f"{-exit_code}, for example for lack of memory; try a smaller tile size).")
        last = tail[-1] if tail else "no message"
        raise QgsProcessingException(f"The backend failed running '{verb}' (exit code {exit_code}): {last}")


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."
