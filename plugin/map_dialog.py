"""The "Map rice" dialog: inputs, season, model and fusion options, engine/device, output, reference.

Everything that touches the backend (``info``, ``models``, ``version``, ``map``, ``evaluate``) runs
asynchronously, so the dialog and QGIS stay responsive; answers to outdated requests are ignored.
Defaults, ranges and tooltips come from the backend's contract (``backend.contract``); the user's choices
are remembered between openings (:mod:`.form_memory`); the backend state is checked again every time the
dialog is shown, so a problem bar from an earlier check never outlives its cause.
"""

from __future__ import annotations

import datetime as dt
import importlib
import tempfile
from pathlib import Path

from qgis.core import Qgis, QgsFieldProxyModel, QgsMapLayerProxyModel, QgsMessageLog, QgsRasterLayer, QgsVectorLayer
from qgis.gui import QgsFileWidget
from qgis.PyQt import uic
from qgis.PyQt.QtCore import QDate, Qt, QTimer
from qgis.PyQt.QtWidgets import QApplication, QComboBox, QDialog, QFileDialog, QVBoxLayout, QWidget

from . import contract_view
from .backend_client import BackendClient, BackendFailure
from .diagnostics import (
    TITLE,
    gpu_summary,
    guarded,
    push_failure,
    push_with_details,
    remember_backend_versions,
    set_message,
    tr,
    wrap_without_widening,
)
from .form_contract import ERROR_STYLE, OUTLINE, apply_int_option, fill_choices, set_tooltips
from .form_memory import FormMemory
from .form_runs import BackendCheck, after_task, form_request
from .layer_inputs import (
    InputProblem,
    check_output_folder,
    preselect_by_name,
    raster_file_for,
    vector_file_for,
)
from .map_job import MapJob, MapRequest
from .model_cards import (
    FUSION_METHODS,
    FUSION_SCHEMES,
    CardViewer,
    ModelCard,
    cards_from_result,
    fill_model_combo,
    fill_option_combo,
    is_enabled,
)
from .results import load_results, summary
from .run_checks import (
    ERROR,
    findings,
    mark_layers,
    result_warning_message,
    run_warnings,
    season_summary,
    warnings_text,
)
from .settings import get_value, set_value

FORM, _ = uic.loadUiType(str(Path(__file__).parent / "ui" / "map_dialog.ui"))
ENGINE_LABELS = {"auto": "auto (GPU if present, else ONNX on CPU)", "onnx": "ONNX Runtime", "torch": "PyTorch",
                 "openvino": "OpenVINO (CPU)"}
DEVICE_LABELS = {"auto": "auto", "cpu": "CPU", "cuda": "GPU (CUDA)"}
PRECISION_LABELS = {"f32": "f32", "bf16": "bf16 (OpenVINO)"}
COMBO_CHARACTERS = 24  # combos never grow wider than this for a long layer or model name
SEASONS_PANEL_MODULE = "seasons_panel"  # plugin/seasons_panel.py, when installed
PREVIEW_DELAY_MS = 600  # the season preview waits for the user to stop typing dates
PREVIEW_FOLDER = "s1ricemapper-season-preview"  # a folder --check-only looks at, never written


class MapRiceDialog(QDialog, FORM):
    def __init__(self, iface, parent: QWidget | None = None) -> None:
        super().__init__(parent or iface.mainWindow())
        self.iface = iface
        self.setupUi(self)
        self.setObjectName("s1ricemapper_map_dialog")
        self.client = BackendClient(parent=self)
        self.check = BackendCheck(iface, self.client, "map", self.statusLabel, self._field_widgets)
        self.cards: list[ModelCard] = []
        self.versions: dict = {}
        self.info: dict = {}
        self.job: MapJob | None = None
        self.last_group = None
        self.seasons_panel: QWidget | None = None
        self.card_viewer: CardViewer | None = None
        self._finding_widgets: list[QWidget] = []  # fields outlined by an `info` finding that refuses the run
        self._info_request = 0
        self._preview_request = 0
        self.season_preview: dict | None = None  # details of the last `map --check-only` of the form
        self._preview_problem = ""
        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(PREVIEW_DELAY_MS)
        self._preview_timer.timeout.connect(self._preview_season)
        self._chosen_files: dict[str, list[str]] = {"VV": [], "VH": []}
        self._backend_bars: list[QWidget] = []  # message-bar items about the backend, removed once it answers
        self._setup_widgets()
        self.memory = FormMemory("map", {
            "season_auto": self.seasonAuto, "season_start": self.seasonStart, "season_end": self.seasonEnd,
            "as_of_enabled": self.asOfCheck, "as_of": self.asOfDate, "model": self.modelCombo,
            "engine": self.engineCombo, "device": self.deviceCombo, "tile": self.tileSpin,
            "overlap": self.overlapSpin, "precision": self.precisionCombo, "reference_enabled": self.referenceCheck, "rice_value": self.riceValue})
        self.memory.restore([n for n in self.memory.widgets if n != "model"])  # the model once models load
        self._connect()
        self._season_auto_toggled(self.seasonAuto.isChecked())
        self.seasons_panel = embed_seasons_panel(self.seasonsPanelHolder, self._season_chosen)

    # --- set-up --------------------------------------------------------------------------------

    def _setup_widgets(self) -> None:
        for combo in (self.vvLayer, self.vhLayer):
            combo.setFilters(QgsMapLayerProxyModel.Filter.RasterLayer)
            combo.setAllowEmptyLayer(True)
        preselect_by_name(self.vvLayer, "VV")
        preselect_by_name(self.vhLayer, "VH")
        self.referenceLayer.setFilters(QgsMapLayerProxyModel.Filter.RasterLayer | QgsMapLayerProxyModel.Filter.PolygonLayer
                                       | QgsMapLayerProxyModel.Filter.PointLayer)
        self.referenceLayer.setAllowEmptyLayer(True)
        self.referenceLayer.setLayer(None)
        self.classField.setFilters(QgsFieldProxyModel.Filter.AllTypes)
        self.outputFolder.setStorageMode(QgsFileWidget.StorageMode.GetDirectory)
        self.outputFolder.setFilePath(get_value("last_output_dir", str(Path.home() / "rice_maps")))
        fill_choices(self.engineCombo, "map", "engine", ENGINE_LABELS)
        fill_choices(self.deviceCombo, "map", "device", DEVICE_LABELS)
        fill_choices(self.precisionCombo, "map", "precision", PRECISION_LABELS)
        fill_option_combo(self.fusionScheme, FUSION_SCHEMES, set())
        fill_option_combo(self.fusionMethod, FUSION_METHODS, set())
        for spin, key in ((self.tileSpin, "tile"), (self.overlapSpin, "overlap")):
            apply_int_option(spin, "map", key)
        self.overlapSpin.setMaximum(min(self.overlapSpin.maximum(), self.tileSpin.value() // 2))
        for widgets in ({"season": self.seasonAuto, "as_of": self.asOfCheck, "model": self.modelCombo,
                         "out": self.outputFolder}, {"season": self.seasonStart}, {"season": self.seasonEnd}):
            set_tooltips("map", widgets)
        self.seasonAuto.setChecked(contract_view.default("map", "season") is None)  # the backend decides
        today = QDate.currentDate()
        self.seasonStart.setDate(today.addMonths(-5))
        self.seasonEnd.setDate(today)
        self.asOfDate.setDate(today)
        self._keep_width_bounded()
        self._update_reference_widgets()

    def _keep_width_bounded(self) -> None:
        """Long messages, layer names or model labels wrap or elide instead of widening the dialog."""
        for combo in self.findChildren(QComboBox):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(COMBO_CHARACTERS)
        for label in (self.statusLabel, self.gpuLabel, self.seasonHint):
            wrap_without_widening(label)

    def _connect(self) -> None:
        self.vvLayer.layerChanged.connect(lambda _l: self._layer_chosen("VV"))
        self.vhLayer.layerChanged.connect(lambda _l: self._layer_chosen("VH"))
        self.vvFilesButton.clicked.connect(lambda: self.choose_files("VV"))
        self.vhFilesButton.clicked.connect(lambda: self.choose_files("VH"))
        self.seasonAuto.toggled.connect(self._season_auto_toggled)
        for date_edit in (self.seasonStart, self.seasonEnd, self.asOfDate):
            date_edit.dateChanged.connect(self._season_edited)
        self.asOfCheck.toggled.connect(self.asOfDate.setEnabled)
        self.asOfCheck.toggled.connect(self._season_edited)
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

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        """Fit the screen and check the backend again each time the dialog is shown."""
        super().showEvent(event)
        fit_to_screen(self)
        self.refresh()

    def hideEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self.remember()
        super().hideEvent(event)

    def remember(self) -> None:
        """Store the form's choices, so the next opening starts from them."""
        self.memory.save()

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
        if self.seasons_panel is not None:
            self.seasons_panel.set_inputs(vv, vh)
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
        if not self.memory.stored("season_start") and self.seasonAuto.isChecked() and self.data_range():
            self._suggest_dates()  # what unticking "Automatic" starts from; never over the user's own dates
        self._check_season()
        self._show_findings()
        self._schedule_season_preview()

    def data_range(self) -> tuple[QDate, QDate] | None:
        """First and last acquisition date of the inputs, from the last `backend info` answer."""
        dates = sorted(d for pol_dates in (self.info.get("dates") or {}).values() for d in pol_dates)
        if not dates:
            return None
        return QDate.fromString(dates[0][:10], Qt.DateFormat.ISODate), QDate.fromString(dates[-1][:10], Qt.DateFormat.ISODate)

    @guarded
    def _season_auto_toggled(self, automatic: bool) -> None:
        for widget in (self.seasonStart, self.seasonEnd, self.startLabel, self.endLabel):
            widget.setEnabled(not automatic)
        self._season_edited()

    @guarded
    def _season_edited(self, *_args) -> None:
        """A season field changed: the local checks at once, the backend's view of it shortly after."""
        self._schedule_season_preview()
        self._check_season()

    def _suggest_dates(self) -> None:
        """First untick of "Automatic": the selected model's season length ending at the last acquisition."""
        first, last = self.data_range()
        card = self.selected_card()
        days = int((card.card.get("inputs") or {}).get("season_days") or 150) if card else 150
        start = max(first, last.addDays(1 - days))
        self.seasonStart.setDate(start)
        self.seasonEnd.setDate(last)
        self.asOfDate.setDate(last)

    def _check_season(self) -> None:
        """Say what the season will be, and warn (never silently change it) when it misses the data."""
        span = self.data_range()
        data_text = tr("the inputs cover {} to {}").format(iso(span[0]), iso(span[1])) if span else ""
        summary_text, warnings = self._preview_sentences()
        if self.seasonAuto.isChecked():
            text = summary_text or tr("The backend chooses the season: {}").format(default_phrase(
                contract_view.option("map", "season").help)) + "."
            self._set_season_hint(" ".join([text.rstrip(".") + (f" ({data_text})." if data_text else "."),
                                            *warnings]), problem=bool(warnings))
            return
        start, end = self.seasonStart.date(), self.seasonEnd.date()
        if start >= end:
            self._set_season_hint(tr("The season start must be before its end."), problem=True)
        elif span and (end < span[0] or start > span[1]):
            self._set_season_hint(tr("No acquisition falls in the season {} to {}: {}. Change the dates or tick "
                                     "'Automatic season'.").format(iso(start), iso(end), data_text), problem=True)
        else:
            text = tr("Season {} to {}{}.").format(iso(start), iso(end), f"; {data_text}" if data_text else "")
            self._set_season_hint(" ".join([text, *warnings, summary_text]).strip(), problem=bool(warnings))

    def _set_season_hint(self, text: str, problem: bool) -> None:
        set_message(self.seasonHint, ("⚠ " if problem else "") + text)
        self.seasonHint.setStyleSheet(ERROR_STYLE if problem else "")

    # --- the season the run will use (`map --check-only`) -------------------------------------------

    def _schedule_season_preview(self) -> None:
        """Ask the backend, shortly after the last change, which window(s) the run would composite."""
        self.season_preview = None
        self._preview_problem = ""
        if self.data_range():
            self._preview_timer.start()

    @guarded
    def _preview_season(self) -> None:
        try:
            request = self._form_request(str(Path(tempfile.gettempdir()) / PREVIEW_FOLDER / "rice_map"))
        except InputProblem:
            return  # the season hint already says what is wrong
        self._preview_request += 1
        number = self._preview_request
        self.client.check_async("map", request.map_args(), lambda answer: self._season_previewed(answer, number),
                                lambda failure: self._season_preview_failed(failure, number))

    @guarded
    def _season_previewed(self, answer: dict, number: int) -> None:
        if number != self._preview_request:
            return
        self.season_preview = answer.get("details") or {}
        window = self.season_preview.get("season")
        if self.seasonAuto.isChecked() and window:  # the greyed fields show the window the run will use
            for widget, day in ((self.seasonStart, window[0]), (self.seasonEnd, window[1])):
                widget.blockSignals(True)
                widget.setDate(QDate.fromString(day[:10], Qt.DateFormat.ISODate))
                widget.blockSignals(False)
        self._check_season()

    @guarded
    def _season_preview_failed(self, failure: BackendFailure, number: int) -> None:
        if number != self._preview_request:
            return
        self.season_preview = None
        if failure.param in ("season", "as_of") and failure.template:
            self._preview_problem = contract_view.render_message(failure.template, "map", self.check.name_of)
        self._check_season()

    def _preview_sentences(self) -> tuple[str, list[str]]:
        """What the backend said of the season: the window(s) the run will use, and its warnings."""
        if self.season_preview is None:
            return "", [self._preview_problem] if self._preview_problem else []
        choice = self.season_preview.get("season_choice") or {}
        warnings = [str(w) for w in choice.get("warnings") or [] if w]
        return season_summary(self.season_preview), [w[0].upper() + w[1:].rstrip(".") + "." for w in warnings]

    @guarded
    def _season_chosen(self, start: str, end: str) -> None:
        """A season picked in the seasons panel becomes the dialog's season."""
        self.seasonAuto.setChecked(False)
        self.seasonStart.setDate(QDate.fromString(start[:10], Qt.DateFormat.ISODate))
        self.seasonEnd.setDate(QDate.fromString(end[:10], Qt.DateFormat.ISODate))

    @guarded
    def _show_info_failure(self, failure: BackendFailure, request: int) -> None:
        if request == self._info_request:
            self.infoText.setPlainText(tr("The inputs cannot be used: {}").format(failure.message))

    def _show_findings(self) -> None:
        """Every plausibility finding of `backend info`, before Run: refusals outline their field."""
        self._clear_finding_outlines()
        found = findings(self.info, "map", self.check.name_of)
        for finding in found:
            self.infoText.appendPlainText(finding.line())
        errors = [f for f in found if f.level == ERROR]
        for key in {key for f in errors for key in f.fields}:
            widget = self._field_widgets().get(key)
            if widget is not None and widget is not self.check.outline.widget:
                widget.setStyleSheet(OUTLINE)
                self._finding_widgets.append(widget)
        if found and not self.is_running():
            first = found[0]
            set_message(self.statusLabel, first.line() if not errors else
                        tr("✖ The run would be refused: {}").format(first.text))
            self.statusLabel.setStyleSheet(ERROR_STYLE if errors else "")
        elif self.statusLabel.styleSheet() == ERROR_STYLE:
            self.statusLabel.clear()
            self.statusLabel.setStyleSheet("")

    def _clear_finding_outlines(self) -> None:
        for widget in self._finding_widgets:
            if widget is not self.check.outline.widget:
                widget.setStyleSheet("")
        self._finding_widgets.clear()

    # --- models, fusion options and GPU --------------------------------------------------------------

    @guarded
    def load_models(self) -> None:
        self.client.call_async("models", [], self._on_models, self._on_models_failure)

    @guarded
    def _on_models(self, result: dict) -> None:
        self.cards = cards_from_result(result)
        self._backend_answered()
        fill_option_combo(self.fusionScheme, FUSION_SCHEMES, {c.scheme for c in self.cards})
        self._fill_methods()
        had_model = self.modelCombo.currentData() is not None
        fill_model_combo(self.modelCombo, self.cards)  # keeps the current model, else the default
        if not had_model:
            self.memory.restore(["model"])  # the model chosen at the last opening, when still installed
        self._model_changed()

    @guarded
    def _on_models_failure(self, failure: BackendFailure) -> None:
        self.modelCombo.clear()
        set_message(self.statusLabel, tr("No models: {}").format(failure.message))
        self._backend_problem(failure)

    def _backend_problem(self, failure: BackendFailure) -> None:
        """Show a backend failure once; it is withdrawn when the backend answers again."""
        self._clear_backend_bars()
        widget = push_failure(self.iface, failure)
        if widget is not None:
            self._backend_bars.append(widget)

    def _backend_answered(self) -> None:
        """The backend works now: withdraw the message-bar items of earlier failures."""
        self._clear_backend_bars()
        if self.statusLabel.text().startswith(tr("No models: ")):
            self.statusLabel.clear()

    def _clear_backend_bars(self) -> None:
        bar = self.iface.messageBar()
        for widget in self._backend_bars:
            if widget in bar.items():
                bar.popWidget(widget)
        self._backend_bars.clear()

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
        """Show the chosen model's scheme and method in the fusion combos; its season may differ."""
        self._schedule_season_preview()
        card = self.selected_card()
        if card is None:
            return
        select_enabled(self.fusionScheme, card.scheme)
        self._fill_methods()  # the methods of the model's scheme, before the model's method is shown
        select_enabled(self.fusionMethod, card.method)
        self.fusionMethod.setEnabled(card.scheme == "feature")

    def selected_card(self) -> ModelCard | None:
        name = self.modelCombo.currentData()
        return next((c for c in self.cards if c.name == name), None)

    @guarded
    def show_card(self) -> None:
        """The selected model's whole card (`backend models NAME`), as a form."""
        card = self.selected_card()
        if card is not None:
            self.client.call_async("models", [card.name], self._open_card, self._backend_problem)

    @guarded
    def _open_card(self, answer: dict) -> None:
        card = dict(answer.get("card") or {}, path=answer.get("path"))
        self.card_viewer = CardViewer(card, self)
        self.card_viewer.show()

    @guarded
    def check_gpu(self) -> None:
        self.client.call_async("version", [], self._on_versions, self._on_versions_failure)

    @guarded
    def _on_versions_failure(self, failure: BackendFailure) -> None:
        set_message(self.gpuLabel, tr("GPU detected: unknown ({})").format(failure.message))

    @guarded
    def _on_versions(self, versions: dict) -> None:
        self.versions = versions
        remember_backend_versions(versions)
        self._backend_answered()
        set_message(self.gpuLabel, tr("GPU detected: {}").format(gpu_summary(versions)))
        has_gpu = bool((versions.get("gpu") or {}).get("available"))
        item = self.deviceCombo.model().item(self.deviceCombo.findData("cuda"))
        item.setEnabled(has_gpu)
        item.setToolTip("" if has_gpu else tr("No CUDA GPU is visible to the backend."))

    @property
    def pending(self) -> int:
        """Quick backend calls in flight (tests wait for zero)."""
        return self.client.pending + int(self._preview_timer.isActive())

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
        """A run is being checked by the backend or computed."""
        return self.check.checking or (self.job is not None and self.job.is_running())

    @guarded
    def start_run(self) -> None:
        """Check the form here, then the backend's own checks (``map --check-only``), then run."""
        request = form_request(self.iface, self.statusLabel, self.is_running(),
                               tr("A rice map is already being computed; wait for it or press Cancel."),
                               self.build_request)
        if request is None:
            return
        set_value("last_output_dir", self.outputFolder.filePath())
        self.remember()
        self._set_running(True)
        set_message(self.statusLabel, tr("Checking the inputs, season and model…"))
        self.check.begin(request.map_args(), lambda: self._checked(request), lambda: self._set_running(False))

    @guarded
    def _checked(self, request: MapRequest) -> None:
        self.job = MapJob(self.client, request, parent=self)
        self.job.progress.connect(self._on_progress)
        self.job.succeeded.connect(self._on_succeeded)
        self.job.failed.connect(self._on_failed)
        set_message(self.statusLabel, tr("Starting the backend…"))
        self.job.start()

    def _field_widgets(self) -> dict[str, QWidget]:
        """Contract key -> the widget that edits it."""
        return {"vv": self.vvLayer, "vh": self.vhLayer, "season": self.seasonStart, "as_of": self.asOfDate,
                "model": self.modelCombo, "engine": self.engineCombo, "device": self.deviceCombo,
                "tile": self.tileSpin, "overlap": self.overlapSpin, "precision": self.precisionCombo,
                "out": self.outputFolder}

    def build_request(self) -> MapRequest:
        """Validate the form; raise InputProblem with a message that says what to fix."""
        if not self.series_files("VV") or not self.series_files("VH"):
            raise InputProblem(tr("Choose both a VV and a VH time series (a project layer or files)."))
        problem = check_output_folder(self.outputFolder.filePath())
        if problem:
            raise InputProblem(problem)
        stamp = dt.datetime.now().strftime("%Y%m%d_%H%M%S")
        request = self._form_request(str(Path(self.outputFolder.filePath()) / f"rice_map_{stamp}"))
        if self.referenceCheck.isChecked():
            self._add_reference(request)
        return request

    def _form_request(self, out_dir: str) -> MapRequest:
        """The map request the form describes, writing into ``out_dir`` (the reference is added apart)."""
        vv, vh = self.series_files("VV"), self.series_files("VH")
        if not vv or not vh:
            raise InputProblem(tr("Choose both a VV and a VH time series (a project layer or files)."))
        season: tuple[str, str] | None = None
        if not self.seasonAuto.isChecked():
            start, end = self.seasonStart.date(), self.seasonEnd.date()
            if start >= end:
                raise InputProblem(tr("The season start must be before its end."))
            season = (iso(start), iso(end))
        return MapRequest(vv=vv, vh=vh, season=season, out_dir=out_dir, model=self.modelCombo.currentData() or "",
                          as_of=iso(self.asOfDate.date()) if self.asOfCheck.isChecked() else "",
                          engine=self.engineCombo.currentData(), device=self.deviceCombo.currentData(),
                          tile=self.tileSpin.value(), overlap=self.overlapSpin.value(),
                          precision=self.precisionCombo.currentData())

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
        set_message(self.statusLabel, text)

    @guarded
    def cancel_run(self) -> None:
        if self.check.forget():  # not started yet: the pending check's answer is ignored
            self._set_running(False)
            set_message(self.statusLabel, tr("Cancelled before the run started."))
        elif self.is_running():
            set_message(self.statusLabel, tr("Cancelling…"))
            self.job.cancel()

    @guarded
    def _on_succeeded(self, out_dir: str) -> None:
        self._set_running(False)
        self.progressBar.setValue(100)
        group_name = tr("Rice map {}").format(dt.datetime.now().strftime("%Y-%m-%d %H:%M"))
        warnings = run_warnings(out_dir)
        if warnings:
            group_name += " ⚠"
        self.last_group, layers = load_results(out_dir, group_name)
        unfold_in_layer_panel(self.iface, self.last_group)
        text = summary(out_dir) or tr("done")
        self.iface.messageBar().pushMessage(TITLE, tr("Rice map ready. {}").format(text), Qgis.MessageLevel.Success, 15)
        if warnings:
            mark_layers(layers.values(), warnings)
            message = result_warning_message(group_name, list(layers), warnings)
            after_task(self.job.current if self.job else None, lambda: push_with_details(
                self.iface, message, warnings_text(warnings), Qgis.MessageLevel.Warning))
            text += " · " + tr("⚠ {} warning(s): {}").format(len(warnings), warnings[0])
        set_message(self.statusLabel, text)

    @guarded
    def _on_failed(self, failure: BackendFailure) -> None:
        self._set_running(False)
        set_message(self.statusLabel, failure.message)
        push_failure(self.iface, failure)


def iso(date: QDate) -> str:
    return date.toString(Qt.DateFormat.ISODate)


def unfold_in_layer_panel(iface, group) -> None:
    """Unfold the run's group in QGIS's Layers panel (the desktop's view shows a new group folded even when
    the node says it is expanded), so the user sees which layers are drawn and which are unticked."""
    view = iface.layerTreeView() if hasattr(iface, "layerTreeView") else None
    if view is None or not hasattr(view, "node2index"):
        return
    group.setExpanded(True)
    view.setExpanded(view.node2index(group), True)


def select_enabled(combo: QComboBox, key: str) -> None:
    """Show item ``key`` without emitting a change, when it exists and is enabled."""
    index = combo.findData(key)
    if index >= 0 and is_enabled(combo, index):
        combo.blockSignals(True)
        combo.setCurrentIndex(index)
        combo.blockSignals(False)


def fit_to_screen(dialog: QDialog) -> None:
    """Keep the whole dialog, its Close button included, on the screen it opens on."""
    screen = dialog.screen() if hasattr(dialog, "screen") else QApplication.primaryScreen()
    available = (screen or QApplication.primaryScreen()).availableGeometry()
    dialog.setMaximumSize(available.width(), available.height())
    width = min(max(dialog.width(), dialog.minimumSizeHint().width()), available.width())
    height = min(dialog.height(), available.height() - 40)  # the title bar
    dialog.resize(width, height)
    frame = dialog.frameGeometry()
    if not available.contains(frame):
        dialog.move(max(available.left(), min(frame.left(), available.right() - width)),
                    max(available.top(), min(frame.top(), available.bottom() - height - 40)))


def embed_seasons_panel(holder: QWidget, on_chosen) -> QWidget | None:
    """Put the seasons panel (plugin/seasons_panel.py, when installed) into ``holder``.

    The panel is any QWidget subclass there with a ``seasonChosen(start, end)`` signal and
    ``set_inputs(vv_paths, vh_paths)``; without the module the holder stays hidden.
    """
    name = f"{__package__}.{SEASONS_PANEL_MODULE}"
    try:
        module = importlib.import_module(name)
    except ImportError as err:  # not installed (or broken: then say so in the log, keep the dialog usable)
        if getattr(err, "name", None) != name:
            QgsMessageLog.logMessage(tr("The seasons panel could not be loaded: {}").format(err), TITLE,
                                     Qgis.MessageLevel.Warning)
        holder.hide()
        return None
    panel_class = next((obj for obj in vars(module).values() if isinstance(obj, type)
                        and issubclass(obj, QWidget) and hasattr(obj, "seasonChosen")
                        and hasattr(obj, "set_inputs")), None)
    if panel_class is None:
        holder.hide()
        return None
    panel = panel_class(holder)
    layout = QVBoxLayout(holder)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(panel)
    panel.seasonChosen.connect(on_chosen)
    return panel


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
    shown_as_findings = {f.get("message") for f in info.get("findings") or []}  # listed with their level
    for problem in info.get("problems") or []:
        if problem not in shown_as_findings:
            lines.append("⚠ " + str(problem))
    return "\n".join(lines)


def default_phrase(help_text: str) -> str:
    """'… (default: the model's season …)' -> "the model's season …"; the whole help when it has none."""
    marker = "(default: "
    if marker not in help_text:
        return help_text
    return help_text.split(marker, 1)[1].rsplit(")", 1)[0]
