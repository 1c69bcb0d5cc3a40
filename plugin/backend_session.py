"""One backend session: the JSON-lines protocol, event dispatch, cancel state and failure classification.

The plugin runs ``python -m backend <verb> … --progress json`` in two ways: a :class:`QProcess` for the GUI
(:mod:`.backend_client`, asynchronous) and a blocking subprocess for Processing (:mod:`.processing.runner`).
Both are thin transports that feed bytes or lines into a :class:`Session`; everything the protocol means is
decided here once: stdout carries only JSON lines (stray text joins the stderr tail), exit codes come from
the contract's ``EXIT_CODES``, and a backend message's ``{param:KEY}`` tokens are rendered by the caller's
``name_of`` (the Processing parameter name, the dialog's field label), never as a CLI flag.
"""

from __future__ import annotations

import json
import os
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from ..backend.contract import EXIT_CODES, render

EXIT_OK = EXIT_CODES["ok"]
EXIT_INTERNAL = EXIT_CODES["internal_error"]
EXIT_USER_ERROR = EXIT_CODES["user_error"]
EXIT_CANCELLED = EXIT_CODES["cancelled"]
STDERR_TAIL_LINES = 40
CANCEL_GRACE_MS = 5000
MENU_NAME = "S1 Rice Mapper"  # the plugin's sub-menu of QGIS's Raster menu (plugin/main.py adds it)
SETTINGS_ACTION = "Settings…"
SETUP_HINT = (f"Open Raster > {MENU_NAME} > {SETTINGS_ACTION} and press 'Create backend environment' (or the "
              "Update / Repair button it shows), or choose another interpreter there and press 'Check backend'.")
# variables that would make the backend's venv load QGIS's Python packages
_FOREIGN_PYTHON_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")


@dataclass
class BackendFailure:
    """Why a backend run did not produce a result, with the facts a bug report needs.

    ``param`` is the contract key of the parameter at fault (a dialog highlights its field) and
    ``template`` the backend's message with its ``{param:KEY}`` tokens, for front ends that render it
    again in their own words; ``message`` is already rendered.
    """

    message: str
    kind: str = "Error"  # UserError, Cancelled, InternalError, Crashed, NotStarted, Timeout, Protocol
    exit_code: int | None = None
    command: list[str] = field(default_factory=list)
    stderr_tail: list[str] = field(default_factory=list)
    param: str | None = None
    template: str | None = None

    @property
    def cancelled(self) -> bool:
        return self.kind == "Cancelled"

    def details(self) -> str:
        """The run-specific part of a diagnostics report."""
        lines = [f"kind: {self.kind}", f"exit code: {self.exit_code}",
                 "command: " + " ".join(_quote(a) for a in self.command), "", "last stderr lines:"]
        lines += self.stderr_tail or ["(none)"]
        return "\n".join(lines)


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


def backend_arguments(verb: str, args: list[Any]) -> list[str]:
    """The interpreter's arguments for one verb with the JSON-lines protocol on stdout."""
    return ["-m", "backend", verb, *[str(a) for a in args], "--progress", "json"]


def backend_environment(base: Mapping[str, str]) -> dict[str, str]:
    """``base`` (QGIS's environment) without the variables that would make the backend load QGIS's packages,
    with unbuffered UTF-8 output so every event arrives at once."""
    env = {k: v for k, v in base.items() if k not in _FOREIGN_PYTHON_VARIABLES}
    env.update(PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8")
    return env


def default_name_of(key: str) -> str:
    """How a parameter is named when the caller has no names of its own: its words, not a CLI flag."""
    return key.replace("_", " ")


class Session:
    """The protocol state of one backend run; the transport feeds it output and asks for the outcome.

    Args:
        verb: the backend verb (for messages).
        command: the full command line (for diagnostics).
        name_of: renders a parameter key in the caller's terms (``{param:KEY}`` tokens in messages).
        on_progress, on_log, on_event: callbacks for ``progress`` events, log lines (already rendered) and
            any other event (``epoch``, ``manifest_row`` …) as dicts with their ``event`` key.
    """

    def __init__(self, verb: str, command: list[str], name_of: Callable[[str], str] | None = None,
                 on_progress: Callable[[dict], None] | None = None, on_log: Callable[[str], None] | None = None,
                 on_event: Callable[[dict], None] | None = None) -> None:
        self.verb = verb
        self.command = command
        self.name_of = name_of or default_name_of
        self.on_progress, self.on_log, self.on_event = on_progress, on_log, on_event
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self.result: dict | None = None
        self.error_event: dict | None = None
        self.cancel_requested = False
        self._buffers = {"stdout": b"", "stderr": b""}

    # --- input from the transport -------------------------------------------------------------

    def feed(self, stream: str, data: bytes) -> None:
        """Bytes read from ``stream`` ('stdout' or 'stderr'); complete lines are handled at once."""
        *lines, self._buffers[stream] = (self._buffers[stream] + data).split(b"\n")
        for line in lines:
            self.line(stream, line.decode("utf-8", "replace"))

    def close(self) -> None:
        """The process ended: handle what is left in the buffers (a last line without a newline)."""
        for stream, rest in self._buffers.items():
            if rest.strip():
                self.line(stream, rest.decode("utf-8", "replace"))
        self._buffers = {"stdout": b"", "stderr": b""}

    def line(self, stream: str, text: str) -> None:
        """One line of ``stream``: stdout is the protocol, stderr is kept for diagnostics."""
        if stream == "stderr":
            text = text.rstrip()
            if text and "\r" not in text:  # a terminal progress bar's redraws carry \r
                self.stderr_tail.append(text)
            return
        message = self._parse(text.strip())
        if message is not None:
            self._dispatch(message)

    def _parse(self, line: str) -> dict | None:
        if not line:
            return None
        try:
            message = json.loads(line)
        except ValueError:
            self.stderr_tail.append(f"(stdout) {line}")
            return None
        return message if isinstance(message, dict) else None

    def _dispatch(self, message: dict) -> None:
        kind = message.get("event")
        if kind == "result":
            self.result = {k: v for k, v in message.items() if k != "event"}
        elif kind == "error":
            self.error_event = message
        elif kind == "progress":
            if self.on_progress:
                self.on_progress(message)
        elif kind == "log":
            if self.on_log:
                self.on_log(self.text_of(message))
        elif self.on_event:
            self.on_event(message)

    def text_of(self, message: dict) -> str:
        """An event's message in the caller's words (its ``template`` rendered when it has one)."""
        template = message.get("template")
        if template:
            return render(str(template), self.name_of)
        return str(message.get("message", ""))

    def _error_text(self, event: dict) -> str:
        """The error's message; when it names no parameter although one is at fault, the parameter first."""
        text = self.text_of(event) or "unknown error"
        param = event.get("param")
        if param and "{param:" + str(param) + "}" not in str(event.get("template") or ""):
            text = f"{self.name_of(str(param))}: {text}"
        return text

    def cancel(self) -> None:
        """Remember that the user asked to stop; the transport then terminates the process."""
        self.cancel_requested = True

    # --- the outcome --------------------------------------------------------------------------

    def failure(self, exit_code: int | None, crashed: bool = False) -> BackendFailure | None:
        """None when the run produced its result, else why not (one classification for every transport).

        Args:
            exit_code: the process's exit code (negative: killed by that signal).
            crashed: the process did not exit by itself (a signal, an abort).
        """
        tail = list(self.stderr_tail)
        crashed = crashed or (exit_code is not None and exit_code < 0)
        if exit_code == EXIT_OK and self.result is not None and not self.cancel_requested:
            return None
        if self.cancel_requested or exit_code == EXIT_CANCELLED:
            return BackendFailure("Cancelled; no output was kept.", "Cancelled", exit_code, self.command, tail)
        if self.error_event:
            event = self.error_event
            return BackendFailure(self._error_text(event), str(event.get("kind", "Error")), exit_code,
                                  self.command, tail, event.get("param"), event.get("template"))
        if crashed:
            return BackendFailure(
                f"The backend process stopped unexpectedly while running '{self.verb}' (it crashed or was "
                "killed, for example for lack of memory; try a smaller tile size).", "Crashed", exit_code,
                self.command, tail)
        if any("No module named" in line for line in tail):
            return BackendFailure(f"The backend environment {self.command[0] if self.command else ''} is "
                                  f"incomplete ({tail[-1]}). " + SETUP_HINT, "NotStarted", exit_code,
                                  self.command, tail)
        if exit_code == EXIT_OK:
            return BackendFailure(f"The backend finished '{self.verb}' without a result.", "Protocol",
                                  exit_code, self.command, tail)
        last = tail[-1] if tail else "no message"
        return BackendFailure(f"The backend failed running '{self.verb}' (exit code {exit_code}): {last}",
                              "InternalError", exit_code, self.command, tail)

    def not_started(self, reason: str) -> BackendFailure:
        """The failure for a process that could not be started at all."""
        return BackendFailure(reason, "NotStarted", command=self.command, stderr_tail=list(self.stderr_tail))
