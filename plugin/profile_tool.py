"""Temporal profile map tool: click a pixel, see its VV and VH backscatter in dB over time.

Values are read with QGIS's own raster providers (no backend needed). Dates come from band descriptions
(one multi-band layer per polarization) or layer names (one layer per date). Linear power is converted
to dB. The rice probability at the pixel is read from the topmost ``probability`` layer of the layer tree
(the latest rice map, since each run's group is added on top); the window names that layer, its group and
file, and shades that run's season (its run.json).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsPointXY,
    QgsProject,
    QgsRaster,
    QgsRasterLayer,
)
from qgis.gui import QgsMapToolEmitPoint
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QDialog, QLabel, QVBoxLayout

from .charts import LineChart, Series, Span
from .contract_view import output_name
from .diagnostics import guarded, tr
from .layer_inputs import band_label, find_date, looks_linear, to_db
from .results import read_json

POL_PATTERN = re.compile(r"(?<![A-Z])(VV|VH)(?![A-Z])")
POL_COLORS = {"VV": "#1f78b4", "VH": "#e66101"}


@dataclass
class Profile:
    series: dict[str, list[tuple[dt.date, float]]] = field(default_factory=dict)
    probability: float | None = None
    season: tuple[dt.date, dt.date] | None = None
    as_of: dt.date | None = None
    probability_source: str = ""  # which layer the probability came from, in words

    def is_empty(self) -> bool:
        return not any(self.series.values())


def polarization_of(layer: QgsRasterLayer) -> str | None:
    """'VV' or 'VH' when exactly one of them is named in the layer's name or file name."""
    text = f"{layer.name()} {Path(layer.source()).name}".upper()
    found = set(POL_PATTERN.findall(text))
    return found.pop() if len(found) == 1 else None


def values_at(layer: QgsRasterLayer, point: QgsPointXY, crs: QgsCoordinateReferenceSystem) -> dict[int, float]:
    """Band number -> value at ``point`` (given in ``crs``); NaN where there is no data."""
    if crs != layer.crs():
        point = QgsCoordinateTransform(crs, layer.crs(), QgsProject.instance()).transform(point)
    if not layer.extent().contains(point):
        return {}
    result = layer.dataProvider().identify(point, QgsRaster.IdentifyFormat.IdentifyFormatValue)
    if not result.isValid():
        return {}
    return {band: (float(v) if v is not None else math.nan) for band, v in result.results().items()}


def dated_values(layer: QgsRasterLayer, values: dict[int, float]) -> list[tuple[dt.date, float]]:
    """(date, value) for each band whose description (or, single-band, whose layer) carries a date."""
    pairs = []
    for band, value in values.items():
        date = find_date(band_label(layer, band))
        if date is None and layer.bandCount() == 1:
            date = find_date(layer.name()) or find_date(Path(layer.source()).name)
        if date is not None:
            pairs.append((date, value))
    return pairs


def profile_at(point: QgsPointXY, crs: QgsCoordinateReferenceSystem, project: QgsProject | None = None) -> Profile:
    """VV/VH series in dB, rice probability and season at a map point, from the project's layers."""
    project = project or QgsProject.instance()
    profile = Profile()
    raster_layers = [lyr for lyr in project.mapLayers().values() if isinstance(lyr, QgsRasterLayer) and lyr.isValid()]
    for layer in raster_layers:
        pol = polarization_of(layer)
        if pol:
            profile.series.setdefault(pol, []).extend(dated_values(layer, values_at(layer, point, crs)))
    for pol, pairs in profile.series.items():
        linear = looks_linear([v for _, v in pairs])
        profile.series[pol] = sorted((d, to_db(v, linear)) for d, v in pairs)
    layer = probability_layer(project)
    if layer is not None:
        value = values_at(layer, point, crs).get(1)
        profile.probability = value if value is not None and math.isfinite(value) else None
        profile.probability_source = describe_layer(project, layer)
        _season_from_run(profile, Path(layer.source()).parent / output_name("map", "run"))
    return profile


def probability_layer(project: QgsProject) -> QgsRasterLayer | None:
    """The topmost valid raster layer named ``probability`` in the layer tree (the latest run's)."""
    for node in project.layerTreeRoot().findLayers():
        layer = node.layer()
        if isinstance(layer, QgsRasterLayer) and layer.isValid() and layer.name() == "probability":
            return layer
    return None


def describe_layer(project: QgsProject, layer: QgsRasterLayer) -> str:
    """'Rice map 2026-12-01 21:30 › probability (/maps/run/probability.tif)'."""
    node = project.layerTreeRoot().findLayer(layer.id())
    parent = node.parent() if node is not None else None
    group = parent.name() if parent is not None and parent.parent() is not None else ""
    name = f"{group} › {layer.name()}" if group else layer.name()
    return f"{name} ({layer.source()})"


def _season_from_run(profile: Profile, run_json: Path) -> None:
    run = read_json(run_json)
    season = run.get("season") or []
    if len(season) == 2:
        profile.season = (dt.date.fromisoformat(season[0]), dt.date.fromisoformat(season[1]))
    if run.get("as_of"):
        profile.as_of = dt.date.fromisoformat(str(run["as_of"])[:10])


class ProfileWindow(QDialog):
    """A non-modal window with the profile chart."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("s1ricemapper_profile_window")
        self.setWindowTitle(tr("Temporal profile"))
        self.resize(620, 340)
        self.chart = LineChart(self, left_title=tr("backscatter (dB)"),
                               x_format=lambda x: dt.date.fromordinal(int(round(x))).strftime("%Y-%m-%d"))
        self.chart.placeholder = tr("Click a pixel of a VV / VH layer.")
        self.source_label = QLabel(self)
        self.source_label.setWordWrap(True)
        self.source_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.addWidget(self.chart)
        layout.addWidget(self.source_label)

    def show_profile(self, profile: Profile, where: str) -> None:
        self.chart.clear()
        for pol in ("VV", "VH"):
            points = [(d.toordinal(), v) for d, v in profile.series.get(pol, [])]
            if points:
                self.chart.add_series(Series(f"{pol} (dB)", POL_COLORS[pol], points))
        if profile.season:
            self.chart.spans.append(Span(profile.season[0].toordinal(), profile.season[1].toordinal(), "#4daf4a",
                                         tr("season")))
        if profile.as_of:
            self.chart.vlines.append((profile.as_of.toordinal(), "#555555", tr("as of")))
        probability = (tr("rice probability {:.2f}").format(profile.probability)
                       if profile.probability is not None else tr("no probability layer loaded"))
        self.chart.title = f"{where} · {probability}"
        self.source_label.setText(tr("Rice probability read from: {}").format(profile.probability_source)
                                  if profile.probability_source else
                                  tr("No layer named 'probability' is loaded; run Map rice to get one."))
        if profile.is_empty():
            self.chart.placeholder = tr("No VV / VH layer with dates covers this point.")
        self.chart.update()


class TemporalProfileTool(QgsMapToolEmitPoint):
    def __init__(self, iface) -> None:
        super().__init__(iface.mapCanvas())
        self.iface = iface
        self.setObjectName("s1ricemapper_profile_tool")
        self.window: ProfileWindow | None = None
        self.last_profile: Profile | None = None
        self.canvasClicked.connect(self.show_at)

    @guarded
    def show_at(self, point: QgsPointXY, button=Qt.MouseButton.LeftButton) -> None:
        crs = self.canvas().mapSettings().destinationCrs()
        self.last_profile = profile_at(point, crs)
        if self.window is None:
            self.window = ProfileWindow(self.iface.mainWindow())
        self.window.show_profile(self.last_profile, f"x {point.x():.1f}, y {point.y():.1f}")
        self.window.show()

    def close_plot(self) -> None:
        if self.window is not None:
            self.window.close()
            self.window.deleteLater()
            self.window = None
