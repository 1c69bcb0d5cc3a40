"""Fine-tune panel: digitized labels + a base model -> a new named model, with a live training chart.

The backend's own checks run first (``finetune … --check-only``); a refusal names the field and outlines
it, and nothing is trained. The run is asynchronous; each ``{"event": "epoch"}`` line adds a point to the
chart. The progress bar moves within an epoch from the backend's ``batch`` events (at most two a second),
and between them from the measured length of the epochs so far (:class:`TrainingClock`), with the time left.
When the run succeeds, ``model_created(name)`` tells the Map rice dialog to reload its model list.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path

from qgis.core import Qgis, QgsMapLayerProxyModel, QgsRasterLayer, QgsVectorLayer
from qgis.PyQt import uic
from qgis.PyQt.QtCore import QDate, Qt, QTimer, pyqtSignal
from qgis.PyQt.QtWidgets import QComboBox, QDockWidget, QVBoxLayout, QWidget

from . import contract_view
from .backend_client import BackendClient, BackendFailure, BackendRun
from .charts import LineChart, Series, integer_ticks
from .diagnostics import TITLE, guarded, push_failure, set_message, tr, wrap_without_widening
from .form_contract import apply_int_option, set_tooltips
from .form_runs import BackendCheck, form_request, start_task
from .layer_inputs import InputProblem, preselect_by_name, raster_file_for, vector_file_for
from .map_job import duration_text
from .model_cards import ModelCard, cards_from_result, fill_model_combo

FORM, _ = uic.loadUiType(str(Path(__file__).parent / "ui" / "finetune_dock.ui"))

# transfer-learning modes of the Korean paddy-rice paper (FTE was its best)
MODES = [
    ("FTE", "FTE: train the encoder, decoder frozen (recommended)."),
    ("FT", "FT: train every pretrained weight."),
    ("FTD", "FTD: train the decoder, encoder frozen."),
    ("RI", "RI: random initialisation, pretrained weights unused (a baseline)."),
]
NOT_TRAINABLE = ("random_forest", "phenology_rules")  # baselines without network weights to fine-tune
CLASS_FIELD_GUESSES = ("class", "label", "rice", "landcover")
RICE_WORDS = ("rice", "paddy", "lua")  # a class value that means rice, in the languages of the study sites
TICK_MS = 1000
COMBO_CHARACTERS = 12  # the dock is narrow: combos elide long names beyond this


@dataclass
class TrainingClock:
    """Where a training run is within its epochs, from epoch ends and the backend's batch counts.

    Within an epoch the position is the last ``batch`` event's count; without one (a backend that does not
    send them) it is estimated from the mean length of the finished epochs, so the bar never sits still.
    """

    epochs: int
    started: float
    epoch_ends: list[float] = field(default_factory=list)
    batch: tuple[int, int] | None = None  # (done, total) within the current epoch, when the backend says

    def epoch_done(self, now: float) -> None:
        self.epoch_ends.append(now)
        self.batch = None

    def mean_epoch_s(self) -> float | None:
        if not self.epoch_ends:
            return None
        return (self.epoch_ends[-1] - self.started) / len(self.epoch_ends)

    def fraction(self, now: float) -> float | None:
        """0-1 through the whole run, or None while the first epoch's length is unknown."""
        done = len(self.epoch_ends)
        if self.batch and self.batch[1]:
            return min((done + self.batch[0] / self.batch[1]) / self.epochs, 1.0)
        mean = self.mean_epoch_s()
        if mean is None or mean <= 0:
            return None
        within = min((now - self.epoch_ends[-1]) / mean, 0.99)
        return min((done + within) / self.epochs, 1.0)

    def seconds_left(self, now: float) -> float | None:
        fraction = self.fraction(now)
        if not fraction:
            return None
        return max((now - self.started) * (1 - fraction) / fraction, 0.0)

    def text(self, now: float) -> str:
        epoch = min(len(self.epoch_ends) + 1, self.epochs)
        text = tr("Training: epoch {} of {}").format(epoch, self.epochs)
        if self.batch:
            text += tr(", batch {} of {}").format(*self.batch)
        left = self.seconds_left(now)
        if left is None:
            return text + tr(" · {} elapsed; time left known after the first epoch").format(
                duration_text(now - self.started))
        return text + tr(" · about {} left").format(duration_text(left))


def guess_rice_values(layer: QgsVectorLayer, field_name: str) -> str:
    """The class value(s) that look like rice: a rice word, else 1 for a 0/1 field; '' when unsure."""
    index = layer.fields().indexOf(field_name)
    if index < 0:
        return ""
    values = [v for v in layer.uniqueValues(index) if v is not None and str(v).strip() != "NULL"]
    words = [str(v) for v in values if any(w in str(v).strip().lower() for w in RICE_WORDS)]
    if words:
        return ", ".join(sorted(words))
    if values and {str(v).strip() for v in values} <= {"0", "1"}:
        return "1"
    return ""


STAGE_TEXT = {"patches": "Preparing patches", "save": "Saving the model"}


class FineTuneDock(QDockWidget, FORM):
    model_created = pyqtSignal(str)

    def __init__(self, iface, parent: QWidget | None = None) -> None:
        super().__init__(parent or iface.mainWindow())
        self.iface = iface
        self.setupUi(self)
        self.setObjectName("s1ricemapper_finetune_dock")
        self.client = BackendClient(parent=self)
        self.check = BackendCheck(iface, self.client, "finetune", self.statusLabel, self._field_widgets)
        self.run: BackendRun | None = None
        self.cards: list[ModelCard] = []
        self.last_model = ""
        self.clock: TrainingClock | None = None
        self._rice_guessed = ""
        self.timer = QTimer(self)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self.chart = LineChart(self.chartHolder, left_title=tr("training loss"), right_title=tr("validation F1"),
                               x_format=integer_ticks, left_floor=0.0)
        self.chart.placeholder = tr("Loss and validation F1 appear here, one point per epoch.")
        layout = QVBoxLayout(self.chartHolder)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.chart)
        self._setup_widgets()

    def _setup_widgets(self) -> None:
        for combo, pol in ((self.vvLayer, "VV"), (self.vhLayer, "VH")):
            combo.setFilters(QgsMapLayerProxyModel.Filter.RasterLayer)
            combo.setAllowEmptyLayer(True)
            preselect_by_name(combo, pol)
        self.labelLayer.setFilters(QgsMapLayerProxyModel.Filter.PolygonLayer | QgsMapLayerProxyModel.Filter.PointLayer)
        self.labelLayer.layerChanged.connect(self._label_layer_changed)
        self._label_layer_changed(self.labelLayer.currentLayer())
        helps = dict(MODES)
        for mode in sorted(contract_view.choices("finetune", "mode"), key=[m for m, _h in MODES].index):
            self.modeCombo.addItem(mode, mode)
            self.modeCombo.setItemData(self.modeCombo.count() - 1, tr(helps[mode]), Qt.ItemDataRole.ToolTipRole)
        self.modeCombo.currentIndexChanged.connect(lambda _i: self.modeHelp.setText(self.modeCombo.currentData(
            Qt.ItemDataRole.ToolTipRole)))
        self.modeCombo.setCurrentIndex(self.modeCombo.findData(contract_view.default("finetune", "mode")))
        self.modeHelp.setText(self.modeCombo.currentData(Qt.ItemDataRole.ToolTipRole))
        for spin, key in ((self.epochsSpin, "epochs"), (self.patchSpin, "patch")):
            apply_int_option(spin, "finetune", key)
        apply_int_option(self.timeShiftSpin, "finetune", "time_shift", keep_minimum=True)  # -1 = "default"
        set_tooltips("finetune", {"labels": self.labelLayer, "class_field": self.classField,
                                  "rice_values": self.riceValues, "season": self.seasonStart,
                                  "base_model": self.baseModel, "mode": self.modeCombo, "name": self.modelName})
        self.modelName.setText("local-" + dt.date.today().strftime("%Y%m%d"))
        for label in (self.statusLabel, self.modeHelp):
            wrap_without_widening(label)
        for combo in self.findChildren(QComboBox):  # long layer or model names never widen the dock
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(COMBO_CHARACTERS)
        self.seasonAuto.setToolTip(tr("Leave the season to the backend: {}").format(
            contract_view.option("finetune", "season").help))
        today = QDate.currentDate()
        self.seasonStart.setDate(today.addMonths(-5))
        self.seasonEnd.setDate(today)
        self.seasonAuto.toggled.connect(self._season_auto_toggled)
        self._season_auto_toggled(self.seasonAuto.isChecked())
        self.classField.fieldChanged.connect(self._class_field_changed)
        self.runButton.clicked.connect(self.start)
        self.cancelButton.clicked.connect(self.cancel)

    @guarded
    def _label_layer_changed(self, layer) -> None:
        self.classField.setLayer(layer if isinstance(layer, QgsVectorLayer) else None)
        for guess in CLASS_FIELD_GUESSES:
            if isinstance(layer, QgsVectorLayer) and layer.fields().indexOf(guess) >= 0:
                self.classField.setField(guess)
                break
        self._class_field_changed(self.classField.currentField())

    @guarded
    def _class_field_changed(self, field_name: str) -> None:
        """Fill "Rice values" from the field's values, unless the user typed their own."""
        layer = self.labelLayer.currentLayer()
        if self.riceValues.text().strip() not in ("", self._rice_guessed):
            return
        guess = guess_rice_values(layer, field_name) if isinstance(layer, QgsVectorLayer) and field_name else ""
        self._rice_guessed = guess
        self.riceValues.setText(guess)

    @guarded
    def _season_auto_toggled(self, automatic: bool) -> None:
        for widget in (self.seasonStart, self.seasonEnd, self.seasonLabel, self.seasonToLabel):
            widget.setEnabled(not automatic)

    def busy(self) -> bool:
        return self.client.pending > 0 or self.is_running() or self.check.checking

    def is_running(self) -> bool:
        return self.run is not None and self.run.is_running()

    @guarded
    def refresh(self) -> None:
        self.client.call_async("models", [], self._on_models, lambda f: push_failure(self.iface, f))

    @guarded
    def _on_models(self, result: dict) -> None:
        self.cards = [c for c in cards_from_result(result) if c.arch not in NOT_TRAINABLE]
        fill_model_combo(self.baseModel, self.cards)  # the default model unless one was chosen

    def shutdown(self) -> None:
        if self.is_running():
            self.run.cancel()
            self.run.wait(10)

    # --- running --------------------------------------------------------------------------------

    @guarded
    def start(self) -> None:
        """Check the form, then the backend's own checks (``finetune … --check-only``), then train."""
        args = form_request(self.iface, self.statusLabel, self.is_running() or self.check.checking,
                            tr("A fine-tuning run is already going; wait for it or press Cancel."), self.build_args)
        if args is None:
            return
        self.runButton.setEnabled(False)
        self.cancelButton.setEnabled(True)
        set_message(self.statusLabel, tr("Checking the inputs, labels and model…"))
        self.check.begin(args, lambda: self._start_training(args), lambda: self._set_running(False))

    def _field_widgets(self) -> dict[str, QWidget]:
        """Contract key -> the widget that edits it."""
        return {"vv": self.vvLayer, "vh": self.vhLayer, "labels": self.labelLayer, "class_field": self.classField,
                "rice_values": self.riceValues, "season": self.seasonStart, "base_model": self.baseModel,
                "mode": self.modeCombo, "epochs": self.epochsSpin, "patch": self.patchSpin,
                "time_shift": self.timeShiftSpin, "name": self.modelName}

    @guarded
    def _start_training(self, args: list[str]) -> None:
        self._reset_chart()
        self.clock = None
        self.run = start_task(self.client, "finetune", args, tr("S1 Rice Mapper: fine-tuning"), {
            "progress": self._on_progress, "other_event": self._on_event, "result": self._on_result,
            "failed": self._on_failed, "finished": lambda _ok: self._set_running(False)})
        self._set_running(True)
        self.statusLabel.setText(tr("Preparing patches…"))

    def build_args(self) -> list[str]:
        """Arguments for `backend finetune`; InputProblem names what to fix."""
        vv, vh = self.vvLayer.currentLayer(), self.vhLayer.currentLayer()
        if not isinstance(vv, QgsRasterLayer) or not isinstance(vh, QgsRasterLayer):
            raise InputProblem(tr("Choose the VV and VH series the labels were drawn on."))
        labels = self.labelLayer.currentLayer()
        if not isinstance(labels, QgsVectorLayer):
            raise InputProblem(tr("Choose a polygon or point layer with your rice / non-rice labels."))
        field = self.classField.currentField()
        if not field or labels.fields().indexOf(field) < 0:
            raise InputProblem(tr("Label layer '{}' has no class field '{}'; add a field that says rice or not "
                                  "(e.g. 'class' with values rice / other) and choose it.").format(labels.name(), field))
        rice = [v.strip() for v in self.riceValues.text().split(",") if v.strip()]
        if not rice:
            raise InputProblem(tr("Enter the value(s) of '{}' that mean rice.").format(field))
        name = self.modelName.text().strip()
        if not name:
            raise InputProblem(tr("Give the new model a name."))
        args = ["--vv", raster_file_for(vv), "--vh", raster_file_for(vh), "--labels", vector_file_for(labels),
                "--class-field", field, "--rice-values", *rice, "--mode", self.modeCombo.currentData(),
                "--epochs", str(self.epochsSpin.value()), "--patch", str(self.patchSpin.value()), "--name", name]
        if self.baseModel.currentData():
            args += ["--base-model", self.baseModel.currentData()]
        if self.timeShiftSpin.value() >= 0:  # -1 shows "default": the backend decides
            args += ["--time-shift", str(self.timeShiftSpin.value())]
        if not self.seasonAuto.isChecked():
            start, end = self.seasonStart.date(), self.seasonEnd.date()
            if start >= end:
                raise InputProblem(tr("The season start must be before its end."))
            args += ["--season", start.toString(Qt.DateFormat.ISODate), end.toString(Qt.DateFormat.ISODate)]
        return args

    def _reset_chart(self) -> None:
        self.chart.clear()
        self.chart.add_series(Series(tr("loss"), "#d95f02"))
        self.chart.add_series(Series(tr("val F1"), "#1b9e77", right_axis=True))

    @guarded
    def _on_event(self, message: dict) -> None:
        if message.get("event") == "batch" and self.clock is not None:
            self.clock.batch = (int(message.get("batch") or 0), int(message.get("batches") or 0))
            self._tick()
            return
        if message.get("event") != "epoch":
            return
        if self.clock is not None:
            self.clock.epoch_done(time.monotonic())
            self._tick()
        epoch = float(message.get("epoch", 0))
        if message.get("loss") is not None:
            self.chart.append(tr("loss"), epoch, float(message["loss"]))
        if message.get("val_f1") is not None:
            self.chart.append(tr("val F1"), epoch, float(message["val_f1"]))

    @guarded
    def _on_progress(self, message: dict) -> None:
        stage = message.get("stage", "")
        if stage == "train":
            if self.clock is None:
                self.clock = TrainingClock(int(message.get("total") or self.epochsSpin.value()), time.monotonic())
                self.timer.start()
            self._tick()
            return
        self.timer.stop()
        total = message.get("total") or 0
        self.progressBar.setRange(0, 100 if total else 0)
        if total:
            self.progressBar.setValue(int(100 * (message.get("done") or 0) / total))
        set_message(self.statusLabel, tr(STAGE_TEXT.get(stage, stage.capitalize())) +
                    (f": {message['message']}" if message.get("message") else ""))

    @guarded
    def _tick(self) -> None:
        """Move the bar and the time left between the backend's (per-epoch) reports."""
        if self.clock is None:
            return
        now = time.monotonic()
        fraction = self.clock.fraction(now)
        if fraction is None:
            self.progressBar.setRange(0, 0)  # busy: the first epoch's length is not known yet
        else:
            self.progressBar.setRange(0, 1000)
            self.progressBar.setValue(int(1000 * fraction))
        set_message(self.statusLabel, self.clock.text(now))

    @guarded
    def _on_result(self, result: dict) -> None:
        self.timer.stop()
        self.last_model = str(result.get("model") or self.modelName.text().strip())
        f1 = (result.get("validation") or {}).get("f1")
        text = tr("New model '{}' saved").format(self.last_model)
        if f1 is not None:
            text += tr(" (validation F1 {:.3f})").format(f1)
        set_message(self.statusLabel, text + ".")
        self.iface.messageBar().pushMessage(TITLE, text + tr("; it is now in the Map rice dialog."),
                                            Qgis.MessageLevel.Success, 15)
        self.refresh()
        self.model_created.emit(self.last_model)

    @guarded
    def _on_failed(self, failure: BackendFailure) -> None:
        self.timer.stop()
        set_message(self.statusLabel, failure.message)
        push_failure(self.iface, failure)

    def _set_running(self, running: bool) -> None:
        self.runButton.setEnabled(not running)
        self.cancelButton.setEnabled(running)
        if not running:
            self.timer.stop()
            self.clock = None
            self.progressBar.setRange(0, 100)

    @guarded
    def cancel(self) -> None:
        if self.check.forget():  # not started yet: the pending check's answer is ignored
            self._set_running(False)
            set_message(self.statusLabel, tr("Cancelled before the run started."))
        elif self.is_running():
            self.statusLabel.setText(tr("Cancelling…"))
            self.run.cancel()
