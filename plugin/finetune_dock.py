"""Fine-tune panel: digitized labels + a base model -> a new named model, with a live training chart.

Runs ``backend finetune`` asynchronously; each ``{"event": "epoch"}`` line adds a point to the chart.
When the run succeeds, ``model_created(name)`` tells the Map rice dialog to reload its model list.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from qgis.core import Qgis, QgsApplication, QgsMapLayerProxyModel, QgsRasterLayer, QgsVectorLayer
from qgis.PyQt import uic
from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtWidgets import QDockWidget, QVBoxLayout, QWidget

from .backend_client import BackendClient, BackendFailure, BackendRun, BackendTask
from .charts import LineChart, Series, integer_ticks
from .diagnostics import TITLE, guarded, push_failure, tr, warn
from .layer_inputs import InputProblem, preselect_by_name, raster_file_for, vector_file_for
from .model_cards import ModelCard, cards_from_result

FORM, _ = uic.loadUiType(str(Path(__file__).parent / "ui" / "finetune_dock.ui"))

# transfer-learning modes of the Korean paddy-rice paper (FTE was its best)
MODES = [
    ("FTE", "FTE: train the encoder, decoder frozen (recommended)."),
    ("FT", "FT: train every pretrained weight."),
    ("FTD", "FTD: train the decoder, encoder frozen."),
    ("RI", "RI: random initialisation, pretrained weights unused (a baseline)."),
]


class FineTuneDock(QDockWidget, FORM):
    model_created = pyqtSignal(str)

    def __init__(self, iface, parent: QWidget | None = None) -> None:
        super().__init__(parent or iface.mainWindow())
        self.iface = iface
        self.setupUi(self)
        self.setObjectName("s1ricemapper_finetune_dock")
        self.client = BackendClient(parent=self)
        self.run: BackendRun | None = None
        self.cards: list[ModelCard] = []
        self.last_model = ""
        self.chart = LineChart(self.chartHolder, left_title=tr("training loss"), right_title=tr("validation F1"),
                               x_format=integer_ticks)
        self.chart.placeholder = tr("Loss and validation F1 appear here, one point per epoch.")
        layout = QVBoxLayout(self.chartHolder)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.chart)
        self._setup_widgets()

    def _setup_widgets(self) -> None:
        for combo, pol in ((self.vvLayer, "VV"), (self.vhLayer, "VH")):
            combo.setFilters(QgsMapLayerProxyModel.RasterLayer)
            combo.setAllowEmptyLayer(True)
            preselect_by_name(combo, pol)
        self.labelLayer.setFilters(QgsMapLayerProxyModel.PolygonLayer | QgsMapLayerProxyModel.PointLayer)
        self.labelLayer.layerChanged.connect(self._label_layer_changed)
        self._label_layer_changed(self.labelLayer.currentLayer())
        for mode, help_text in MODES:
            self.modeCombo.addItem(mode, mode)
            self.modeCombo.setItemData(self.modeCombo.count() - 1, help_text, 3)  # Qt.ToolTipRole
        self.modeCombo.currentIndexChanged.connect(lambda i: self.modeHelp.setText(MODES[i][1]))
        self.modeHelp.setText(MODES[0][1])
        self.modelName.setText("local-" + dt.date.today().strftime("%Y%m%d"))
        self.runButton.clicked.connect(self.start)
        self.cancelButton.clicked.connect(self.cancel)

    @guarded
    def _label_layer_changed(self, layer) -> None:
        self.classField.setLayer(layer if isinstance(layer, QgsVectorLayer) else None)
        for guess in ("class", "label", "rice", "landcover"):
            if isinstance(layer, QgsVectorLayer) and layer.fields().indexOf(guess) >= 0:
                self.classField.setField(guess)
                return

    def busy(self) -> bool:
        return self.client.pending > 0 or self.is_running()

    def is_running(self) -> bool:
        return self.run is not None and self.run.is_running()

    @guarded
    def refresh(self) -> None:
        self.client.call_async("models", [], self._on_models, lambda f: push_failure(self.iface, f))

    @guarded
    def _on_models(self, result: dict) -> None:
        self.cards = cards_from_result(result)
        current = self.baseModel.currentData()
        self.baseModel.clear()
        for card in self.cards:
            self.baseModel.addItem(card.label(), card.name)
        index = self.baseModel.findData(current)
        if index >= 0:
            self.baseModel.setCurrentIndex(index)

    def shutdown(self) -> None:
        if self.is_running():
            self.run.cancel()
            self.run.wait(10)

    # --- running --------------------------------------------------------------------------------

    @guarded
    def start(self) -> None:
        if self.is_running():
            warn(self.iface, self.statusLabel, tr("A fine-tuning run is already going; wait for it or press Cancel."))
            return
        try:
            args = self.build_args()
        except InputProblem as problem:
            warn(self.iface, self.statusLabel, str(problem))
            return
        self._reset_chart()
        self.run = self.client.run("finetune", args)
        self.run.progress.connect(self._on_progress)
        self.run.other_event.connect(self._on_event)
        self.run.result.connect(self._on_result)
        self.run.failed.connect(self._on_failed)
        self.run.finished.connect(lambda _ok: self._set_running(False))
        QgsApplication.taskManager().addTask(BackendTask(tr("S1 Rice Mapper: fine-tuning"), self.run))
        self._set_running(True)
        self.statusLabel.setText(tr("Preparing patches…"))
        self.run.start()

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
        return args

    def _reset_chart(self) -> None:
        self.chart.clear()
        self.chart.add_series(Series(tr("loss"), "#d95f02"))
        self.chart.add_series(Series(tr("val F1"), "#1b9e77", right_axis=True))

    @guarded
    def _on_event(self, message: dict) -> None:
        if message.get("event") != "epoch":
            return
        epoch = float(message.get("epoch", 0))
        if message.get("loss") is not None:
            self.chart.append(tr("loss"), epoch, float(message["loss"]))
        if message.get("val_f1") is not None:
            self.chart.append(tr("val F1"), epoch, float(message["val_f1"]))

    @guarded
    def _on_progress(self, message: dict) -> None:
        total = message.get("total") or 0
        self.progressBar.setRange(0, 100 if total else 0)
        if total:
            self.progressBar.setValue(int(100 * (message.get("done") or 0) / total))
        self.statusLabel.setText(f"{message.get('stage', '')}: {message.get('message', '')}")

    @guarded
    def _on_result(self, result: dict) -> None:
        self.last_model = str(result.get("model") or self.modelName.text().strip())
        f1 = (result.get("validation") or {}).get("f1")
        text = tr("New model '{}' saved").format(self.last_model)
        if f1 is not None:
            text += tr(" (validation F1 {:.3f})").format(f1)
        self.statusLabel.setText(text + ".")
        self.iface.messageBar().pushMessage(TITLE, text + tr("; it is now in the Map rice dialog."),
                                            Qgis.Success, 15)
        self.refresh()
        self.model_created.emit(self.last_model)

    @guarded
    def _on_failed(self, failure: BackendFailure) -> None:
        self.statusLabel.setText(failure.message)
        push_failure(self.iface, failure)

    def _set_running(self, running: bool) -> None:
        self.runButton.setEnabled(not running)
        self.cancelButton.setEnabled(running)
        if not running:
            self.progressBar.setRange(0, 100)

    @guarded
    def cancel(self) -> None:
        if self.is_running():
            self.statusLabel.setText(tr("Cancelling…"))
            self.run.cancel()
