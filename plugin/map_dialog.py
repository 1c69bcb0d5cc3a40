"""The "Map rice" dialog: inputs, season, model and fusion options, engine/device, output, reference.

Everything that touches the backend (``info``, ``models``, ``version``, ``map``, ``evaluate``) runs
asynchronously, so the dialog and QGIS stay responsive; answers to outdated requests are ignored.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from qgis.core import Qgis, QgsFieldProxyModel, QgsMapLayerProxyModel, QgsRasterLayer, QgsVectorLayer
from qgis.gui import QgsFileWidget
from qgis.PyQt import uic
from qgis.PyQt.QtCore import QDate, Qt
from qgis.PyQt.QtWidgets import QDialog, QFileDialog, QWidget

from .backend_client import BackendClient, BackendFailure
from .diagnostics import TITLE, gpu_summary, guarded, push_failure, remember_backend_versions, tr, warn
from .layer_inputs import (
    InputProblem,
    check_output_folder,
    preselect_by_name,
    raster_file_for,
    swap_warning,
    vector_file_for,
)
from .map_job import MapJob, MapRequest
from .model_cards import (
    FUSION_METHODS,
    FUSION_SCHEMES,
    CardViewer,
    ModelCard,
    cards_from_result,
    fill_option_combo,
    is_enabled,
)
from .results import load_results, summary
from .settings import get_value, set_value

FORM, _ = uic.loadUiType(str(Path(__file__).parent / "ui" / "map_dialog.ui"))


class MapRiceDialog(QDialog, FORM):
    def __init__(self, iface, parent: QWidget | None = None) -> None:
        super().__init__(parent or iface.mainWindow())
        self.iface = iface
        self.setupUi(self)
        self.setObjectName("s1ricemapper_map_dialog")
        self.client = BackendClient(parent=self)
        self.cards: list[ModelCard] = []
        self.versions: dict = {}
        self.info: dict = {}
        self.job: MapJob | None = None
        self.last_group = None
        self._info_request = 0
        self._chosen_files: dict[str, list[str]] = {"VV": [], "VH": []}
        self._setup_widgets()
        self._connect()

    # --- set-up --------------------------------------------------------------------------------

    def _setup_widgets(self) -> None:
        for combo in (self.vvLayer, self.vhLayer):
            combo.setFilters(QgsMapLayerProxyModel.RasterLayer)
            combo.setAllowEmptyLayer(True)
        preselect_by_name(self.vvLayer, "VV")
        preselect_by_name(self.vhLayer, "VH")
        self.referenceLayer.setFilters(QgsMapLayerProxyModel.RasterLayer | QgsMapLayerProxyModel.PolygonLayer
                                       | QgsMapLayerProxyModel.PointLayer)
        self.referenceLayer.setAllowEmptyLayer(True)
        self.referenceLayer.setLayer(None)
        self.classField.setFilters(QgsFieldProxyModel.AllTypes)
        self.outputFolder.setStorageMode(QgsFileWidget.GetDirectory)
        self.outputFolder.setFilePath(get_value("last_output_dir", str(Path.home() / "rice_maps")))
        for value, label in (("auto", tr("auto (GPU if present, else ONNX on CPU)")), ("onnx", "ONNX Runtime"),
                             ("torch", "PyTorch")):
            self.engineCombo.addItem(label, value)
        for value, label in (("auto", "auto"), ("cpu", "CPU"), ("cuda", "GPU (CUDA)")):
            self.deviceCombo.addItem(label, value)
        fill_option_combo(self.fusionScheme, FUSION_SCHEMES, set())
        fill_option_combo(self.fusionMethod, FUSION_METHODS, set())
        today = QDate.currentDate()
        self.seasonStart.setDate(today.addMonths(-5))
        self.seasonEnd.setDate(today)
        self.asOfDate.setDate(today)
        self._update_reference_widgets()

    def _connect(self) -> None:
        self.vvLayer.layerChanged.connect(lambda _l: self._layer_chosen("VV"))
        self.vhLayer.layerChanged.connect(lambda _l: self._layer_chosen("VH"))
        self.vvFilesButton.clicked.connect(lambda: self.choose_files("VV"))
        self.vhFilesButton.clicked.connect(lambda: self.choose_files("VH"))
        self.asOfCheck.toggled.connect(self.asOfDate.setEnabled)
        self.tileSpin.valueChanged.connect(lambda tile: self.overlapSpin.setMaximum(tile // 2))
        self.fusionScheme.currentIndexChanged.connect(self._fusion_changed)
        self.fusionMethod.currentIndexChanged.connect(self._fusion_changed)
        self.modelCombo.currentIndexChanged.connect(self._model_changed)
        self.cardButton.clicked.connect(self.show_card)
        self.referenceCheck.toggled.connect(self._update_reference_widgets)
        self.referenceLayer.layerChanged.connect(self._update_reference_widgets)
        self.runButton.clicked.connect(self.start_run)
        self.cancelButton.clicked.connect(self.cancel_run)
        self.closeButton.clicked.connect(self.close)

    def refresh(self) -> None:
        """Ask the backend for models, GPU and (when inputs are set) what the inputs hold."""
        self.load_models()
        self.check_gpu()
        self.request_info()

    def shutdown(self) -> None:
        """Stop a running job (plugin unload)."""
        if self.job is not None and self.job.is_running():
            self.job.cancel()
            self.job.current.wait(10)

    # --- inputs and `backend info` ---------------------------------------------------------------

    @guarded
    def choose_files(self, pol: str) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, tr("{} time series").format(pol), "",
                                                tr("Rasters (*.tif *.tiff *.vrt *.img);;All files (*)"))
        if files:
            self.set_files(pol, files)

    def set_files(self, pol: str, files: list[str]) -> None:
        """Use files instead of a project layer for ``pol`` (one multi-band file or one file per date)."""
        combo = self.vvLayer if pol == "VV" else self.vhLayer
        combo.blockSignals(True)
        combo.setLayer(None)
        combo.blockSignals(False)
        self._chosen_files[pol] = list(files)
        combo.setToolTip("\n".join(files))
        self.request_info()

    @guarded
    def _layer_chosen(self, pol: str) -> None:
        self._chosen_files[pol] = []
        self.request_info()

    def series_files(self, pol: str) -> list[str]:
        """Files for ``pol``: chosen files, or the selected layer's file (exported when it has none)."""
        if self._chosen_files[pol]:
            return self._chosen_files[pol]
        layer = (self.vvLayer if pol == "VV" else self.vhLayer).currentLayer()
        return [raster_file_for(layer)] if isinstance(layer, QgsRasterLayer) else []

    @guarded
    def request_info(self) -> None:
        try:
            vv, vh = self.series_files("VV"), self.series_files("VH")
        except InputProblem as problem:
            self.infoText.setPlainText(str(problem))
            return
        if not (vv and vh):
            self.infoText.setPlainText(tr("Choose VV and VH to see the detected dates, units and grid."))
            return
        self._info_request += 1
        request = self._info_request
        self.infoText.setPlainText(tr("Reading the inputs…"))
        self.client.call_async("info", ["--vv", *vv, "--vh", *vh],
                   lambda info: self._show_info(info, request), lambda f: self._show_info_failure(f, request))

    @guarded
    def _show_info(self, info: dict, request: int) -> None:
        if request != self._info_request:
            return
        self.info = info
        self.infoText.setPlainText(describe_info(info))
        dates = sorted(d for pol_dates in (info.get("dates") or {}).values() for d in pol_dates)
        if dates:
            self.seasonStart.setDate(QDate.fromString(dates[0][:10], Qt.ISODate))
            self.seasonEnd.setDate(QDate.fromString(dates[-1][:10], Qt.ISODate))
            self.asOfDate.setDate(QDate.fromString(dates[-1][:10], Qt.ISODate))
        self._check_swap()

    @guarded
    def _show_info_failure(self, failure: BackendFailure, request: int) -> None:
        if request == self._info_request:
            self.infoText.setPlainText(tr("The inputs cannot be used: {}").format(failure.message))

    def _check_swap(self) -> None:
        vv_layer, vh_layer = self._input_layer("VV"), self._input_layer("VH")
        warning = swap_warning(vv_layer, vh_layer)
        if warning:
            self.infoText.appendPlainText("⚠ " + warning)
            warn(self.iface, self.statusLabel, warning)

    def _input_layer(self, pol: str) -> QgsRasterLayer | None:
        """A layer to sample levels from: the project layer, or the first chosen file."""
        layer = (self.vvLayer if pol == "VV" else self.vhLayer).currentLayer()
        if isinstance(layer, QgsRasterLayer):
            return layer
        files = self._chosen_files[pol]
        return QgsRasterLayer(files[0], pol) if files else None

    # --- models, fusion options and GPU --------------------------------------------------------------

    @guarded
    def load_models(self) -> None:
        self.client.call_async("models", [], self._on_models, self._on_models_failure)

    @guarded
    def _on_models(self, result: dict) -> None:
        self.cards = cards_from_result(result)
        fill_option_combo(self.fusionScheme, FUSION_SCHEMES, {c.scheme for c in self.cards})
        self._fill_methods()
        current = self.modelCombo.currentData()
        self.modelCombo.blockSignals(True)
        self.modelCombo.clear()
        for card in self.cards:
            self.modelCombo.addItem(card.label(), card.name)
        index = self.modelCombo.findData(current)
        self.modelCombo.blockSignals(False)
        if index >= 0:
            self.modelCombo.setCurrentIndex(index)
        else:
            self._fusion_changed()

    @guarded
    def _on_models_failure(self, failure: BackendFailure) -> None:
        self.modelCombo.clear()
        self.statusLabel.setText(tr("No models: {}").format(failure.message))
        push_failure(self.iface, failure)

    def _fill_methods(self) -> None:
        scheme = self.fusionScheme.currentData()
        methods = {c.method for c in self.cards if c.scheme == scheme}
        fill_option_combo(self.fusionMethod, FUSION_METHODS, methods)
        self.fusionMethod.setEnabled(scheme == "feature")

    @guarded
    def _fusion_changed(self, _index: int = 0) -> None:
        """Pick the first model that matches the chosen scheme (and method for feature-level fusion)."""
        if self.sender() is self.fusionScheme:
            self._fill_methods()
        scheme, method = self.fusionScheme.currentData(), self.fusionMethod.currentData()
        for card in self.cards:
            if card.scheme == scheme and (scheme != "feature" or card.method == method):
                self.modelCombo.blockSignals(True)
                self.modelCombo.setCurrentIndex(self.modelCombo.findData(card.name))
                self.modelCombo.blockSignals(False)
                return

    @guarded
    def _model_changed(self, _index: int = 0) -> None:
        """Show the chosen model's scheme and method in the fusion combos."""
        card = self.selected_card()
        if card is None:
            return
        for combo, key in ((self.fusionScheme, card.scheme), (self.fusionMethod, card.method)):
            index = combo.findData(key)
            if index >= 0 and is_enabled(combo, index):
                combo.blockSignals(True)
                combo.setCurrentIndex(index)
                combo.blockSignals(False)
        self.fusionMethod.setEnabled(card.scheme == "feature")

    def selected_card(self) -> ModelCard | None:
        name = self.modelCombo.currentData()
        return next((c for c in self.cards if c.name == name), None)

    @guarded
    def show_card(self) -> None:
        card = self.selected_card()
        if card is not None:
            CardViewer(card, self).exec_()

    @guarded
    def check_gpu(self) -> None:
        self.client.call_async("version", [], self._on_versions,
                   lambda f: self.gpuLabel.setText(tr("GPU detected: unknown ({})").format(f.message)))

    @guarded
    def _on_versions(self, versions: dict) -> None:
        self.versions = versions
        remember_backend_versions(versions)
        self.gpuLabel.setText(tr("GPU detected: {}").format(gpu_summary(versions)))
        has_gpu = bool((versions.get("gpu") or {}).get("available"))
        item = self.deviceCombo.model().item(self.deviceCombo.findData("cuda"))
        item.setEnabled(has_gpu)
        item.setToolTip("" if has_gpu else tr("No CUDA GPU is visible to the backend."))

    @property
    def pending(self) -> int:
        """Quick backend calls in flight (tests wait for zero)."""
        return self.client.pending

    # --- reference ---------------------------------------------------------------------------------

    @guarded
    def _update_reference_widgets(self, *_args) -> None:
        use = self.referenceCheck.isChecked()
        layer = self.referenceLayer.currentLayer()
        is_vector = isinstance(layer, QgsVectorLayer)
        self.referenceLayer.setEnabled(use)
        self.classField.setLayer(layer if is_vector else None)
        for widget in (self.classField, self.riceValue, self.classFieldLabel):
            widget.setEnabled(use and is_vector)

    # --- running -----------------------------------------------------------------------------------

    def is_running(self) -> bool:
        return self.job is not None and self.job.is_running()

    @guarded
    def start_run(self) -> None:
        if self.is_running():
            warn(self.iface, self.statusLabel, tr("A rice map is already being computed; wait for it or press Cancel."))
            return
        try:
            request = self.build_request()
        except InputProblem as problem:
            warn(self.iface, self.statusLabel, str(problem))
            return
        set_value("last_output_dir", self.outputFolder.filePath())
        self.job = MapJob(self.client, request, parent=self)
        self.job.progress.connect(self._on_progress)
        self.job.succeeded.connect(self._on_succeeded)
        self.job.failed.connect(self._on_failed)
        self._set_running(True)
        self.statusLabel.setText(tr("Starting the backend…"))
        self.job.start()

    def build_request(self) -> MapRequest:
        """Validate the form; raise InputProblem with a message that says what to fix."""
        vv, vh = self.series_files("VV"), self.series_files("VH")
        if not vv or not vh:
            raise InputProblem(tr("Choose both a VV and a VH time series (a project layer or files)."))
        problem = check_output_folder(self.outputFolder.filePath())
        if problem:
            raise InputProblem(problem)
        start, end = self.seasonStart.date(), self.seasonEnd.date()
        if start >= end:
            raise InputProblem(tr("The season start must be before its end."))
        stamp = dt.datetime.now().strftime("%Y%m%d_%H%M%S")
        request = MapRequest(vv=vv, vh=vh, season=(iso(start), iso(end)),
                             out_dir=str(Path(self.outputFolder.filePath()) / f"rice_map_{stamp}"),
                             model=self.modelCombo.currentData() or "",
                             as_of=iso(self.asOfDate.date()) if self.asOfCheck.isChecked() else "",
                             engine=self.engineCombo.currentData(), device=self.deviceCombo.currentData(),
                             tile=self.tileSpin.value(), overlap=self.overlapSpin.value())
        if self.referenceCheck.isChecked():
            self._add_reference(request)
        return request

    def _add_reference(self, request: MapRequest) -> None:
        layer = self.referenceLayer.currentLayer()
        if layer is None:
            raise InputProblem(tr("Choose a reference layer, or untick 'Compare with a reference'."))
        if isinstance(layer, QgsRasterLayer):
            request.reference = raster_file_for(layer)
            return
        field = self.classField.currentField()
        if not field or layer.fields().indexOf(field) < 0:
            raise InputProblem(tr("Reference layer '{}' has no class field '{}'; choose the field that "
                                  "holds the classes.").format(layer.name(), field))
        if not self.riceValue.text().strip():
            raise InputProblem(tr("Enter the value of field '{}' that means rice.").format(field))
        request.reference = vector_file_for(layer)
        request.class_field, request.rice_value = field, self.riceValue.text().strip()

    def _set_running(self, running: bool) -> None:
        self.runButton.setEnabled(not running)
        self.cancelButton.setEnabled(running)
        self.progressBar.setRange(0, 100)
        self.progressBar.setValue(0)

    @guarded
    def _on_progress(self, percent: int, text: str) -> None:
        if percent < 0:
            self.progressBar.setRange(0, 0)
        else:
            self.progressBar.setRange(0, 100)
            self.progressBar.setValue(percent)
        self.statusLabel.setText(text)

    @guarded
    def cancel_run(self) -> None:
        if self.is_running():
            self.statusLabel.setText(tr("Cancelling…"))
            self.job.cancel()

    @guarded
    def _on_succeeded(self, out_dir: str) -> None:
        self._set_running(False)
        self.progressBar.setValue(100)
        group_name = tr("Rice map {}").format(dt.datetime.now().strftime("%Y-%m-%d %H:%M"))
        self.last_group, _layers = load_results(out_dir, group_name)
        text = summary(out_dir) or tr("done")
        self.statusLabel.setText(text)
        self.iface.messageBar().pushMessage(TITLE, tr("Rice map ready. {}").format(text), Qgis.Success, 15)

    @guarded
    def _on_failed(self, failure: BackendFailure) -> None:
        self._set_running(False)
        self.statusLabel.setText(failure.message)
        push_failure(self.iface, failure)


def iso(date: QDate) -> str:
    return date.toString(Qt.ISODate)


def describe_info(info: dict) -> str:
    """What `backend info` detected, in a few lines."""
    lines = [tr("Layout: {}").format(info.get("layout", "?"))]
    for pol in info.get("polarizations", []):
        span = (info.get("date_range") or {}).get(pol, ["?", "?"])
        units = (info.get("units") or {}).get(pol, "?")
        count = (info.get("n_dates") or {}).get(pol, "?")
        lines.append(tr("{}: {} dates, {} to {}, units {}").format(pol, count, span[0], span[-1], units))
    size, crs = info.get("size") or {}, info.get("crs") or {}
    crs_text = f"EPSG:{crs['epsg']}" if crs.get("epsg") else (crs.get("name") or tr("no CRS"))
    lines.append(tr("Grid: {} x {} px, {}; VV and VH grids match").format(
        size.get("width", "?"), size.get("height", "?"), crs_text)
        if not info.get("aligned") else tr("Grid: resampled to a common grid"))
    for problem in info.get("problems") or []:
        lines.append("⚠ " + str(problem))
    return "\n".join(lines)
