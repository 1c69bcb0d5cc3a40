"""One "Map rice" job: backend ``map``, then ``evaluate`` when a reference is given.

Runs asynchronously through :class:`BackendClient` and shows in QGIS's task manager. A cancel during
``evaluate`` also removes the map outputs of this job, so a cancelled job leaves no files at all.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from qgis.PyQt.QtCore import QObject, pyqtSignal

from .backend_client import BackendClient, BackendFailure, BackendRun
from .contract_view import default, output_name, verb
from .diagnostics import tr
from .form_runs import start_task

OUTPUT_NAMES = ("rice", "probability", "heatmap", "error")
# every file a job may write, as the backend's contract names them
OUTPUT_FILES = [*verb("map").outputs, *verb("evaluate").outputs]
# what a stage's steps are, for the status line ("Mapping rice: tile 3 of 9")
STAGE_TEXT = {"map": ("Mapping rice", "tile"), "evaluate": ("Comparing with the reference", "window")}


@dataclass
class MapRequest:
    vv: list[str]
    vh: list[str]
    season: tuple[str, str] | None  # None: the backend chooses
    out_dir: str
    model: str = ""
    as_of: str = ""
    engine: str = default("map", "engine")
    device: str = default("map", "device")
    tile: int = default("map", "tile")
    overlap: int = default("map", "overlap")
    precision: str = default("map", "precision")
    reference: str = ""
    class_field: str = ""
    rice_value: str = ""
    extra: list[str] = field(default_factory=list)

    def map_args(self) -> list[str]:
        args = ["--vv", *self.vv, "--vh", *self.vh, "--engine", self.engine,
                "--device", self.device, "--tile", str(self.tile), "--overlap", str(self.overlap),
                "--precision", self.precision, "--out", self.out_dir]
        if self.season:
            args += ["--season", *self.season]
        if self.model:
            args += ["--model", self.model]
        if self.as_of:
            args += ["--as-of", self.as_of]
        return args + self.extra

    def evaluate_args(self) -> list[str]:
        args = ["--pred", str(Path(self.out_dir) / output_name("map", "rice", "tif")), "--reference", self.reference,
                "--out", self.out_dir]
        if self.class_field:
            args += ["--class-field", self.class_field, "--rice-value", self.rice_value]
        return args


class MapJob(QObject):
    """Drives the backend verbs of one job; emits ``succeeded(out_dir)`` or ``failed(BackendFailure)``."""

    progress = pyqtSignal(int, str)  # percent (-1 = unknown), text
    succeeded = pyqtSignal(str)
    failed = pyqtSignal(object)

    def __init__(self, client: BackendClient, request: MapRequest, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.request = request
        self.current: BackendRun | None = None
        self.step = ""
        self._cancelled = False
        self._running = False

    def is_running(self) -> bool:
        return self._running

    def start(self) -> None:
        self._running = True
        self._start_step("map", self.request.map_args(), tr("Mapping rice"))

    def cancel(self) -> None:
        self._cancelled = True
        if self.current is not None:
            self.current.cancel()

    def _start_step(self, verb: str, args: list[str], description: str) -> None:
        self.step = verb
        self.current = start_task(self.client, verb, args, f"S1 Rice Mapper: {description}", {
            "progress": self._on_progress, "result": self._on_step_result, "failed": self._on_step_failed})

    def _on_progress(self, message: dict) -> None:
        total = message.get("total") or 0
        percent = int(100 * (message.get("done") or 0) / total) if total else -1
        self.progress.emit(percent, progress_text(message))

    def _on_step_result(self, _result: dict) -> None:
        if self.step == "map" and self.request.reference and not self._cancelled:
            self._start_step("evaluate", self.request.evaluate_args(), tr("Comparing with the reference"))
            return
        self._running = False
        self.succeeded.emit(self.request.out_dir)

    def _on_step_failed(self, failure: BackendFailure) -> None:
        self._running = False
        if self.step == "evaluate" and failure.cancelled:
            remove_outputs(Path(self.request.out_dir))
        self.failed.emit(failure)


def progress_text(message: dict) -> str:
    """'Mapping rice: tile 3 of 9 · about 12 s left' from a progress event."""
    stage = str(message.get("stage") or "")
    title, unit = STAGE_TEXT.get(stage, (stage.capitalize() or tr("Working"), tr("step")))
    total, done = message.get("total") or 0, message.get("done") or 0
    text = tr(title)
    if total:
        text += tr(": {} {} of {}").format(tr(unit), done, total)
    eta = message.get("eta_s", message.get("eta"))
    if eta is not None:
        text += tr(" · about {} left").format(duration_text(float(eta)))
    return text


def duration_text(seconds: float) -> str:
    """'45 s', '3 min', '1 h 05 min'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def remove_outputs(out_dir: Path) -> None:
    """Delete this job's result files and its folder when nothing else is in it."""
    for name in OUTPUT_FILES:
        (out_dir / name).unlink(missing_ok=True)
    for sidecar in out_dir.glob("*.aux.xml"):
        sidecar.unlink(missing_ok=True)
    if out_dir.is_dir() and not any(out_dir.iterdir()):
        shutil.rmtree(out_dir, ignore_errors=True)
