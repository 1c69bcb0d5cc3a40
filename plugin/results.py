"""Load a finished run's rasters into the project, styled, and summarise it for the message bar.

QGIS applies ``<name>.qml`` beside a raster when it loads it; the backend writes those files. If a
style is missing or did not give the expected renderer, the project's template (``resources/styles``)
is applied, and failing that a style is built in code, so results never load unstyled.
"""

from __future__ import annotations

import json
from pathlib import Path

from qgis.core import (
    QgsColorRampShader,
    QgsLayerTreeGroup,
    QgsPalettedRasterRenderer,
    QgsProject,
    QgsRasterLayer,
    QgsRasterShader,
    QgsSingleBandPseudoColorRenderer,
    QgsStyle,
)
from qgis.PyQt.QtGui import QColor

from .contract_view import output_name
from .diagnostics import tr
from .settings import PLUGIN_DIR

# layer name -> renderer type QGIS must report after loading
EXPECTED_RENDERERS = {"rice": "paletted", "probability": "singlebandpseudocolor",
                      "heatmap": "singlebandpseudocolor", "error": "paletted", "intensity": "paletted",
                      "transplanting_doy": "singlebandpseudocolor"}
RICE_CLASSES = [(0, "#ffffff", 0, "other"), (1, "#4daf4a", 255, "rice")]
ERROR_CLASSES = [(1, "#1a9641", 255, "true positive"), (2, "#d7191c", 255, "false positive"),
                 (3, "#2c7bb6", 255, "false negative"), (4, "#e0e0e0", 255, "true negative")]
# blues for the probability, so the rice green (#4daf4a) never reads as "high probability"
RAMPS = {"probability": "Blues", "heatmap": "Magma"}
# layers of a run, top of the group first: the heat map sits above the probability, so ticking it shows it
LOAD_ORDER = ("error", "rice", "heatmap", "probability")


def load_results(out_dir: str | Path, group_name: str, project: QgsProject | None = None):
    """Add a group with every result raster found in ``out_dir``; returns (group, {name: layer})."""
    project = project or QgsProject.instance()
    out_dir = Path(out_dir)
    group = QgsLayerTreeGroup(group_name)  # filled first, then inserted, so the layer tree shows it unfolded
    layers = {}
    for name in LOAD_ORDER:
        path = out_dir / f"{name}.tif"
        if not path.exists():
            continue
        layer = QgsRasterLayer(str(path), name)
        if not layer.isValid():
            continue
        ensure_style(layer, name)
        project.addMapLayer(layer, False)
        group.addLayer(layer)
        layers[name] = layer
    if "heatmap" in layers:  # a diagnostic layer: loaded unticked, drawn over the probability once ticked
        group.findLayer(layers["heatmap"].id()).setItemVisibilityChecked(False)
    project.layerTreeRoot().insertChildNode(0, group)
    return group, layers


def ensure_style(layer: QgsRasterLayer, name: str) -> None:
    """Make sure ``layer`` has the renderer type its name calls for."""
    expected = EXPECTED_RENDERERS[name]
    if layer.renderer() and layer.renderer().type() == expected:
        return
    template = PLUGIN_DIR / "resources" / "styles" / f"{name}.qml"
    if template.exists():
        layer.loadNamedStyle(str(template))
    if layer.renderer() is None or layer.renderer().type() != expected:
        _style_in_code(layer, name)
    layer.triggerRepaint()


def _style_in_code(layer: QgsRasterLayer, name: str) -> None:
    if name in ("rice", "error"):
        classes = []
        for value, color, alpha, label in (RICE_CLASSES if name == "rice" else ERROR_CLASSES):
            qcolor = QColor(color)
            qcolor.setAlpha(alpha)
            classes.append(QgsPalettedRasterRenderer.Class(value, qcolor, label))
        layer.setRenderer(QgsPalettedRasterRenderer(layer.dataProvider(), 1, classes))
        return
    ramp = QgsStyle.defaultStyle().colorRamp(RAMPS[name])
    color_shader = QgsColorRampShader(0.0, 1.0, ramp)
    color_shader.classifyColorRamp(5)
    shader = QgsRasterShader()
    shader.setRasterShaderFunction(color_shader)
    renderer = QgsSingleBandPseudoColorRenderer(layer.dataProvider(), 1, shader)
    renderer.setClassificationMin(0.0)
    renderer.setClassificationMax(1.0)
    layer.setRenderer(renderer)


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def find_number(data: dict, *names: str):
    """The first of ``names`` found in ``data`` or one level below (cards and metrics nest differently)."""
    for name in names:
        if isinstance(data.get(name), (int, float)):
            return data[name]
    for value in data.values():
        if isinstance(value, dict):
            found = find_number(value, *names)
            if found is not None:
                return found
    return None


def summary(out_dir: str | Path) -> str:
    """'Rice area: 123.4 ha · F1 0.912 · IoU 0.838' from run.json and metrics.json."""
    out_dir = Path(out_dir)
    run = read_json(out_dir / output_name("map", "run"))
    metrics = read_json(out_dir / output_name("evaluate", "metrics"))
    parts = []
    area = find_number(run, "rice_area_ha", "rice_ha", "area_ha")
    if area is not None:
        parts.append(tr("Rice area: {:,.1f} ha").format(area))
    f1 = find_number(metrics, "f1", "F1", "rice_f1")
    iou = find_number(metrics, "iou_rice", "rice_iou", "iou")
    if f1 is not None:
        parts.append(f"F1 {f1:.3f}")
    if iou is not None:
        parts.append(f"IoU {iou:.3f}")
    return " · ".join(parts)
