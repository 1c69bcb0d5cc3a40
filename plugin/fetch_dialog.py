"""The "Get Sentinel-1…" dialog: an area, a season, an orbit, a catalogue and a folder -> VV/VH layers.

The area is an extent (typed, a layer's, the canvas's or drawn: QgsExtentGroupBox) or the polygons of a
layer. The download runs as the backend ``fetch`` verb in a subprocess (:class:`BackendRun`), shown in the
task manager, so QGIS never freezes; a cancel leaves no file under a final name and a rerun resumes.
"""

from __future__ import annotations

from pathlib import Path

from qgis.core import Qgis, QgsMapLayerProxyModel, QgsProject, QgsRasterLayer
from qgis.gui import QgsExtentGroupBox, QgsFileWidget, QgsMapLayerComboBox
from qgis.PyQt.QtCore import QDate
from qgis.PyQt.QtWidgets import (
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QProgressBar,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from ..backend.contract.verbs.fetch import ORBITS, PRESETS, SERIES_FILES, VERB
from .backend_client import BackendClient, BackendFailure, BackendRun
from .diagnostics import TITLE, guarded, push_failure, tr
from .form_runs import form_request, start_task
from .layer_inputs import InputProblem, check_output_folder, vector_file_for
from .processing.fetch import bbox_args, catalogue_args
from .settings import get_value, set_value

ORBIT_LABELS = {"auto": tr("the direction with more acquisitions"), "ascending": tr("ascending"),
                "descending": tr("descending"), "both": tr("both (mixes incidence geometries)")}


class FetchDialog(QDialog):
    """Collects the fetch inputs, runs the backend and adds the VV/VH series to the project."""

    def __init__(self, iface, parent: QWidget | None = None) -> None:
        super().__init__(parent or iface.mainWindow())
        self.iface = iface
        self.setObjectName("s1ricemapper_fetch_dialog")
        self.setWindowTitle(tr("Get Sentinel-1…"))
        self.client = BackendClient(parent=self)
        self.run: BackendRun | None = None
        self.last_layers: list[QgsRasterLayer] = []
        self._build()

    # --- widgets -------------------------------------------------------------------------------

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.addWidget(self._area_box())
        form = QFormLayout()
        self.seasonStart, self.seasonEnd = QDateEdit(calendarPopup=True), QDateEdit(calendarPopup=True)
        for edit in (self.seasonStart, self.seasonEnd):
            edit.setDisplayFormat("yyyy-MM-dd")
        today = QDate.currentDate()
        self.seasonStart.setDate(today.addMonths(-5))
        self.seasonEnd.setDate(today)
        form.addRow(tr("Season start"), self.seasonStart)
        form.addRow(tr("Season end"), self.seasonEnd)
        self.orbitCombo = QComboBox()
        for orbit in ORBITS:
            self.orbitCombo.addItem(ORBIT_LABELS[orbit], orbit)
        form.addRow(tr(VERB.option("orbit").label), self.orbitCombo)
        pixel = VERB.option("pixel_size")
        self.pixelSpin = QDoubleSpinBox()
        self.pixelSpin.setRange(pixel.minimum, pixel.maximum)
        self.pixelSpin.setValue(pixel.default)
        self.pixelSpin.setSuffix(" m")
        self.pixelSpin.setToolTip(tr(pixel.help))
        form.addRow(tr(pixel.label), self.pixelSpin)
        self.presetCombo = QComboBox()
        for preset in PRESETS:
            self.presetCombo.addItem(preset, preset)
        self.presetCombo.setToolTip(tr(VERB.option("preset").help))
        form.addRow(tr(VERB.option("preset").label), self.presetCombo)
        self.urlEdit, self.collectionEdit, self.assetsEdit = QLineEdit(), QLineEdit(), QLineEdit()
        self.urlEdit.setPlaceholderText(tr("the preset's"))
        self.collectionEdit.setPlaceholderText(tr("the preset's"))
        self.assetsEdit.setPlaceholderText("VV=vv,VH=vh")
        form.addRow(tr("STAC API URL"), self.urlEdit)
        form.addRow(tr("Collection"), self.collectionEdit)
        form.addRow(tr("Asset names"), self.assetsEdit)
        self.outputFolder = QgsFileWidget()
        self.outputFolder.setStorageMode(QgsFileWidget.StorageMode.GetDirectory)
        self.outputFolder.setFilePath(get_value("last_fetch_dir", str(Path.home() / "sentinel1")))
        form.addRow(tr("Output folder"), self.outputFolder)
        layout.addLayout(form)
        self.progressBar = QProgressBar()
        self.statusLabel = QLabel()
        self.statusLabel.setWordWrap(True)
        layout.addWidget(self.progressBar)
        layout.addWidget(self.statusLabel)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel | QDialogButtonBox.StandardButton.Close)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText(tr("Get Sentinel-1"))
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).clicked.connect(self.start_run)
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).clicked.connect(self.cancel_run)
        self.buttons.button(QDialogButtonBox.StandardButton.Close).clicked.connect(self.close)
        layout.addWidget(self.buttons)
        self._update_buttons()

    def _area_box(self) -> QGroupBox:
        box = QGroupBox(tr("Area"))
        inner = QVBoxLayout(box)
        self.extentRadio = QRadioButton(tr("Extent (typed, of a layer, of the map canvas, or drawn)"))
        self.layerRadio = QRadioButton(tr("Polygons of a layer"))
        self.extentRadio.setChecked(True)
        self.extentBox = QgsExtentGroupBox()
        canvas = self.iface.mapCanvas()
        if canvas is not None:
            self.extentBox.setMapCanvas(canvas)
            self.extentBox.setCurrentExtent(canvas.extent(), canvas.mapSettings().destinationCrs())
            self.extentBox.setOutputCrs(canvas.mapSettings().destinationCrs())
        self.areaLayer = QgsMapLayerComboBox()
        self.areaLayer.setFilters(QgsMapLayerProxyModel.Filter.PolygonLayer)
        for widget in (self.extentRadio, self.extentBox, self.layerRadio, self.areaLayer):
            inner.addWidget(widget)
        return box

    # --- running -------------------------------------------------------------------------------

    def is_running(self) -> bool:
        return self.run is not None and self.run.is_running()

    def arguments(self) -> list[str]:
        """The backend ``fetch`` arguments for the current inputs.

        Raises:
            InputProblem: a missing or wrong input, in the user's words.
        """
        start, end = (d.date().toString("yyyy-MM-dd") for d in (self.seasonStart, self.seasonEnd))
        if start > end:
            raise InputProblem(tr("The season starts after it ends; swap the dates."))
        out_dir = self.outputFolder.filePath().strip()
        problem = check_output_folder(out_dir)
        if problem:
            raise InputProblem(problem)
        preset = self.presetCombo.currentData()
        if preset == "custom" and not (self.urlEdit.text().strip() and self.collectionEdit.text().strip()):
            raise InputProblem(tr("A custom catalogue needs the STAC API URL and the collection."))
        return [*self._area_args(), *catalogue_args(preset, self.urlEdit.text().strip(),
                                                    self.collectionEdit.text().strip(),
                                                    self.assetsEdit.text().strip()),
                "--season", start, end, "--orbit", self.orbitCombo.currentData(),
                "--pixel-size", repr(self.pixelSpin.value()), "--out", out_dir]

    def _area_args(self) -> list[str]:
        if self.layerRadio.isChecked():
            layer = self.areaLayer.currentLayer()
            if layer is None:
                raise InputProblem(tr("Choose a polygon layer for the area, or use an extent."))
            return ["--area", vector_file_for(layer)]
        extent = self.extentBox.outputExtent()
        if extent.isNull() or extent.isEmpty():
            raise InputProblem(tr("Set the area's extent (type it, or take a layer's or the canvas's)."))
        return bbox_args(extent, self.extentBox.outputCrs())

    @guarded
    def start_run(self) -> None:
        args = form_request(self.iface, self.statusLabel, self.is_running(),
                            tr("A download is already running; wait for it or cancel it."), self.arguments)
        if args is None:
            return
        set_value("last_fetch_dir", self.outputFolder.filePath().strip())
        self.out_dir = args[args.index("--out") + 1]
        self.run = start_task(self.client, "fetch", args, tr("S1 Rice Mapper: getting Sentinel-1"), {
            "progress": self._on_progress, "result": self._on_result, "failed": self._on_failed,
            "finished": lambda _ok: self._update_buttons()})
        self.statusLabel.setText(tr("Searching the catalogue…"))
        self._update_buttons()

    def cancel_run(self) -> None:
        if self.is_running():
            self.run.cancel()

    def _on_progress(self, message: dict) -> None:
        total, done = message.get("total") or 0, message.get("done") or 0
        self.progressBar.setValue(int(100 * done / total) if total else 0)
        self.statusLabel.setText(f"{message.get('stage', '')}: {message.get('message', '')}")

    def _on_result(self, result: dict) -> None:
        self.last_layers = []
        group = QgsProject.instance().layerTreeRoot().insertGroup(0, tr("Sentinel-1 {} dates").format(
            result.get("dates")))
        for pol, name in SERIES_FILES.items():
            layer = QgsRasterLayer(str(Path(self.out_dir) / name), pol)
            QgsProject.instance().addMapLayer(layer, False)
            group.addLayer(layer)
            self.last_layers.append(layer)
        text = tr("{} dates from {} items, orbit {}; written to {}").format(
            result.get("dates"), result.get("items"), ", ".join(result.get("orbits", [])), self.out_dir)
        self.statusLabel.setText(text)
        self.progressBar.setValue(100)
        self.iface.messageBar().pushMessage(TITLE, text, Qgis.MessageLevel.Success, 10)
        for problem in result.get("problems", []):
            self.iface.messageBar().pushMessage(TITLE, problem, Qgis.MessageLevel.Warning, 15)

    def _on_failed(self, failure: BackendFailure) -> None:
        self.statusLabel.setText(failure.message)
        push_failure(self.iface, failure)

    def _update_buttons(self) -> None:
        running = self.is_running()
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not running)
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setEnabled(running)

    def shutdown(self) -> None:
        """Cancel a running download (plugin unload)."""
        self.cancel_run()
