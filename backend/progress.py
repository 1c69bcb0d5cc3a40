"""Progress reporting and cancellation shared by every long-running verb.

With ``--progress json`` each event is one JSON object on its own stdout line, which the QGIS plugin
reads; stdout carries nothing else in that mode (logs go to stderr). On a terminal a simple bar is
drawn on stderr. SIGINT/SIGTERM set a flag that :meth:`Reporter.check_cancel` turns into
:class:`~backend.errors.Cancelled` at the next safe point (for example between two tiles).
"""

from __future__ import annotations

import json
import signal
import sys
import time
from typing import Any, Callable, TextIO

from backend.contract.messages import params_in, render
from backend.errors import Cancelled

_cancel_requested = False


def _on_signal(signum: int, _frame: Any) -> None:
    global _cancel_requested
    _cancel_requested = True


def install_signal_handlers() -> None:
    """Turn SIGINT/SIGTERM into a cancel request checked between units of work."""
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)


def cancel_requested() -> bool:
    return _cancel_requested


def emit_json(obj: dict[str, Any], stream: TextIO | None = None) -> None:
    """Write one JSON line and flush, so a reading process sees it at once."""
    stream = stream or sys.stdout
    stream.write(json.dumps(obj, default=str) + "\n")
    stream.flush()


class Reporter:
    """Reports stages and steps as JSON lines (``mode='json'``), a terminal bar (``'bar'``) or not at all."""

    def __init__(self, mode: str = "none", name_of: Callable[[str], str] | None = None) -> None:
        if mode not in ("json", "bar", "none"):
            raise ValueError(f"unknown progress mode {mode!r}")
        self.mode = mode
        # how ``{param:KEY}`` tokens in log messages are shown here (the CLI: its flags)
        self.name_of = name_of or (lambda key: "--" + key.replace("_", "-"))
        self.stage_name = ""
        self.total = 0
        self.done = 0
        self._t0 = time.monotonic()

    def stage(self, name: str, total: int, message: str = "") -> None:
        """Start a new stage of ``total`` steps."""
        self.stage_name, self.total, self.done = name, max(int(total), 0), 0
        self._t0 = time.monotonic()
        self._emit(message)

    def advance(self, n: int = 1, message: str = "") -> None:
        """Mark ``n`` more steps done, then honour a pending cancel request."""
        self.done = min(self.done + n, self.total) if self.total else self.done + n
        self._emit(message)
        self.check_cancel()

    def log(self, message: str) -> None:
        """A human-readable note: a ``log`` event in JSON mode, a stderr line otherwise.

        A message may name parameters with ``{param:KEY}`` tokens; the JSON event then also carries the
        ``template``, so each front end names them its own way (as for errors).
        """
        text = render(message, self.name_of)
        if self.mode == "json":
            emit_json({"event": "log", "message": text, **({"template": message} if params_in(message) else {})})
        else:
            print(text, file=sys.stderr)

    def event(self, name: str, **fields: Any) -> None:
        """A free-form event (for example per-epoch metrics); JSON mode only prints it to stdout."""
        if self.mode == "json":
            emit_json({"event": name, **fields})
        elif self.mode == "bar":
            print(f"{name}: " + ", ".join(f"{k}={v}" for k, v in fields.items()), file=sys.stderr)

    def check_cancel(self) -> None:
        if _cancel_requested:
            raise Cancelled("cancelled by the user; no output was finalised")

    def eta_seconds(self) -> float | None:
        if not self.total or not self.done:
            return None
        elapsed = time.monotonic() - self._t0
        return elapsed / self.done * (self.total - self.done)

    def _emit(self, message: str) -> None:
        if self.mode == "json":
            eta = self.eta_seconds()
            emit_json({"event": "progress", "stage": self.stage_name, "done": self.done,
                       "total": self.total, "eta": None if eta is None else round(eta, 1),
                       "message": message})
        elif self.mode == "bar" and self.total:
            width = 30
            filled = int(width * self.done / self.total)
            eta = self.eta_seconds()
            eta_s = f" eta {eta:.0f}s" if eta is not None else ""
            sys.stderr.write(f"\r{self.stage_name:<12} [{'#' * filled}{'.' * (width - filled)}] "
                             f"{self.done}/{self.total}{eta_s} {message[:30]:<30}")
            if self.done >= self.total:
                sys.stderr.write("\n")
            sys.stderr.flush()
