#!/usr/bin/env bash
# `make demo` (after scripts/setup.sh): a synthetic Mekong-like sample scene mapped through QGIS's own
# command-line Processing runner, evaluated against the scene's truth, rice area per zone, and a QGIS
# project plus a PNG map of the styled results. Everything lands in demo_output/ (git-ignored).
#   DEMO_MODEL=NAME|PATH  map with another model than the bundled default
#   DEMO_SIZE=512         scene width and height in pixels
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=.venv/bin/python
OUT=$ROOT/demo_output
SIZE=${DEMO_SIZE:-512}
QGIS_PROCESS=/usr/bin/qgis_process.bin  # Debian's qgis_process wrapper passes an option this one rejects
export QT_QPA_PLATFORM=offscreen

fail() { echo "[demo] $*" >&2; exit 1; }
[ -x "$PY" ] || fail "the backend environment .venv is missing; run scripts/setup.sh backend (or make demo)"
[ -x "$QGIS_PROCESS" ] || fail "$QGIS_PROCESS is missing; run scripts/setup.sh system (or make demo)"
if [ -z "${DEMO_MODEL:-}" ] && ! MODEL_NAME=$($PY -c "from backend.inference.loader import default_model_name as d; print(d())" 2>/dev/null); then
  fail "no default model is installed: run 'make pretrain' first (it trains the bundled models), then 'make demo' again (or pick an installed model: DEMO_MODEL=NAME make demo)"
fi
MODEL_NAME=${DEMO_MODEL:-$MODEL_NAME}

rm -rf "$OUT"
mkdir -p "$OUT"
# qgis_process finds the plugin through QGIS_PLUGINPATH (a link named like the installed plugin) and
# enables it in a throw-away profile, so the user's own QGIS profile is never touched.
RUNTIME=$(mktemp -d)
trap 'rm -rf "$RUNTIME"' EXIT
mkdir -p "$RUNTIME/plugins"
ln -s "$ROOT" "$RUNTIME/plugins/s1ricemapper"
export QGIS_PLUGINPATH=$RUNTIME/plugins QGIS_CUSTOM_CONFIG_PATH=$RUNTIME/profile XDG_RUNTIME_DIR=$RUNTIME
"$QGIS_PROCESS" plugins enable s1ricemapper >/dev/null 2>"$RUNTIME/enable.log" \
  || { cat "$RUNTIME/enable.log" >&2; fail "qgis_process could not enable the plugin"; }

qgis_run() {  # $1 algorithm, $2 JSON result file, rest: PARAMETER=VALUE; the log goes to $2.log
  local algorithm=$1 result=$2; shift 2
  if ! "$QGIS_PROCESS" --json run "$algorithm" -- "$@" >"$result" 2>"$result.log"; then
    tail -n 20 "$result.log" >&2
    fail "$algorithm failed (full log: $result.log)"
  fi
}

echo "[demo] 1/5 synthetic Sentinel-1 scene (Mekong-like, ${SIZE} x ${SIZE} px, 2022) -> demo_output/scene"
$PY -m backend synth --region mekong --size "$SIZE" --seed 7 --layout a --start 2022-03-15 --end 2022-09-15 \
    --out "$OUT/scene" --progress none >/dev/null

echo "[demo] 2/5 qgis_process run s1ricemapper:maprice (model $MODEL_NAME, season 2022-04-01..2022-08-31) -> demo_output/map"
MODEL_ARG=()
[ -n "${DEMO_MODEL:-}" ] && MODEL_ARG=("MODEL=$DEMO_MODEL")
qgis_run s1ricemapper:maprice "$OUT/maprice.json" VV="$OUT/scene/VV.tif" VH="$OUT/scene/VH.tif" \
  SEASON_START=2022-04-01 SEASON_END=2022-08-31 "${MODEL_ARG[@]}" OUTPUT_FOLDER="$OUT/map"

echo "[demo] 3/5 qgis_process run s1ricemapper:evaluate against the scene's truth -> demo_output/evaluation"
qgis_run s1ricemapper:evaluate "$OUT/evaluate.json" PREDICTION="$OUT/map/rice.tif" \
  REFERENCE="$OUT/scene/truth.tif" OUTPUT_FOLDER="$OUT/evaluation" METRICS="$OUT/evaluation/metrics_table.gpkg"

echo "[demo] 4/5 rice area per zone (a 2 x 2 grid of zones) -> demo_output/zones.gpkg"
read -r EXTENT CRS < <($PY -c "import json,sys; i=json.load(sys.stdin); b=i['bounds']; c='EPSG:%d' % i['crs']['epsg']
print(f'{b[0]},{b[2]},{b[1]},{b[3]}[{c}] {c}')" < <($PY -m backend info "$OUT/scene/VV.tif" "$OUT/scene/VH.tif" 2>/dev/null))
SPACING=$((SIZE * 10 / 2))  # the synthetic scene has 10 m pixels: a 2 x 2 grid
qgis_run native:creategrid "$OUT/grid.json" TYPE=2 EXTENT="$EXTENT" HSPACING=$SPACING VSPACING=$SPACING \
  CRS="$CRS" OUTPUT="$OUT/grid.gpkg"
qgis_run s1ricemapper:riceareastats "$OUT/zones.json" RICE="$OUT/map/rice.tif" ZONES="$OUT/grid.gpkg" \
  OUTPUT="$OUT/zones.gpkg"
rm -f "$OUT/grid.gpkg" "$OUT/grid.json" "$OUT/grid.json.log"

echo "[demo] 5/5 QGIS project and PNG map -> demo_output/rice_demo.qgz, demo_output/rice_map.png"
/usr/bin/python3 - "$OUT" "$RUNTIME/plugins" <<'PYEOF'
"""Project with the styled layers (loaded by the plugin's own result loader) and a layout exported to PNG."""
import sys
from pathlib import Path

out, plugins = Path(sys.argv[1]), sys.argv[2]
sys.path.insert(0, plugins)
from qgis.core import (QgsApplication, QgsFillSymbol, QgsLayoutExporter, QgsLayoutItemLabel, QgsLayoutItemLegend,
                       QgsLayoutItemMap, QgsLayoutItemScaleBar, QgsLayoutPoint, QgsMapLayerLegendUtils, QgsLayoutSize, QgsPalLayerSettings,
                       QgsPrintLayout, QgsProject, QgsRasterLayer, QgsTextBufferSettings, QgsTextFormat,
                       QgsUnitTypes, QgsVectorLayer, QgsVectorLayerSimpleLabeling)
from osgeo import gdal
from qgis.PyQt.QtGui import QFont

app = QgsApplication([], False)
app.initQgis()
from s1ricemapper.plugin.results import load_results  # noqa: E402 (needs the QGIS application)

project = QgsProject.instance()
project.setCrs(QgsRasterLayer(str(out / "map" / "rice.tif"), "crs").crs())
zones = QgsVectorLayer(str(out / "zones.gpkg"), "zones: rice ha, rice %", "ogr")
zones.renderer().setSymbol(QgsFillSymbol.createSimple(
    {"color": "0,0,0,0", "outline_color": "30,30,30", "outline_width": "0.6"}))
labels = QgsPalLayerSettings()
labels.isExpression = True
labels.fieldName = "format_number(rice_ha, 1) || ' ha, ' || format_number(rice_pct, 0) || ' %'"
labels.placement = QgsPalLayerSettings.OverPoint
text = QgsTextFormat()
text.setFont(QFont("DejaVu Sans", 9))
text.setSize(9)
buffer = QgsTextBufferSettings()
buffer.setEnabled(True)
text.setBuffer(buffer)
labels.setFormat(text)
zones.setLabeling(QgsVectorLayerSimpleLabeling(labels))
zones.setLabelsEnabled(True)
project.addMapLayer(zones)
evaluation_group, evaluation = load_results(out / "evaluation", "Evaluation against the truth", project)
evaluation_group.setItemVisibilityChecked(False)
evaluation_group.setExpanded(False)
group, layers = load_results(out / "map", "Rice map 2022-08-31", project)
for name in ("probability", "heatmap"):
    if name in layers:
        project.layerTreeRoot().findLayer(layers[name].id()).setItemVisibilityChecked(False)

MM = QgsUnitTypes.LayoutMillimeters
layout = QgsPrintLayout(project)
layout.initializeDefaults()
layout.setName("Rice map")
layout.pageCollection().page(0).setPageSize(QgsLayoutSize(412, 178, MM))


def add_label(text: str, x: float, y: float, width: float, size: int) -> None:
    label = QgsLayoutItemLabel(layout)
    label.setText(text)
    label.setFont(QFont("DejaVu Sans", size))
    label.attemptMove(QgsLayoutPoint(x, y, MM))
    label.attemptResize(QgsLayoutSize(width, 9, MM))
    layout.addLayoutItem(label)


def add_map(map_layers: list, x: float) -> QgsLayoutItemMap:
    item = QgsLayoutItemMap(layout)
    item.attemptMove(QgsLayoutPoint(x, 24, MM))
    item.attemptResize(QgsLayoutSize(145, 145, MM))
    item.setLayers(map_layers)
    item.setExtent(layers["rice"].extent())
    item.setFrameEnabled(True)
    layout.addLayoutItem(item)
    return item


add_label("S1 Rice Mapper demo: synthetic Mekong scene, season 2022-04-01 to 2022-08-31", 8, 4, 330, 13)
add_label("Rice map with rice area and share per zone", 8, 15, 145, 10)
add_label("Errors against the scene's truth", 158, 15, 145, 10)
rice_map = add_map([zones, layers["rice"]], 8)
add_map([evaluation["error"]], 158)
legend = QgsLayoutItemLegend(layout)
legend.setTitle("Legend")
legend.setAutoUpdateModel(False)
root = legend.model().rootGroup()
root.clear()
for layer, first_class, n_classes in ((layers["rice"], 1, 2), (evaluation["error"], 1, 4), (zones, 0, 1)):
    node = root.addLayer(layer)
    # start at the first class: drops the 'Band 1 (Gray)' caption QGIS puts above raster classes
    QgsMapLayerLegendUtils.setLegendNodeOrder(node, list(range(first_class, first_class + n_classes)))
    legend.model().refreshLayerLegend(node)
legend.attemptMove(QgsLayoutPoint(306, 24, MM))
layout.addLayoutItem(legend)
bar = QgsLayoutItemScaleBar(layout)
bar.setStyle("Single Box")
bar.setLinkedMap(rice_map)
bar.applyDefaultSize()
bar.attemptMove(QgsLayoutPoint(306, 150, MM))
layout.addLayoutItem(bar)
project.layoutManager().addLayout(layout)
settings = QgsLayoutExporter.ImageExportSettings()
settings.dpi = 110
gdal.PushErrorHandler("CPLQuietErrorHandler")  # QGIS tries to georeference the PNG, which GDAL cannot update
status = QgsLayoutExporter(layout).exportToImage(str(out / "rice_map.png"), settings)
gdal.PopErrorHandler()
if status != QgsLayoutExporter.Success:
    sys.exit(f"[demo] PNG export failed (status {status})")
# the project refers to the files under demo_output/, so it opens wherever the folder is moved
project.writeEntryBool("Paths", "/Absolute", False)
if not project.write(str(out / "rice_demo.qgz")):
    sys.exit(f"[demo] could not write the project: {project.error()}")
PYEOF

$PY - "$OUT" <<'PYEOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
run = json.loads((out / "map" / "run.json").read_text())
m = json.loads((out / "evaluation" / "metrics.json").read_text())
print(f"[demo] model {run['model']['name']} ({run['engine']}), {run.get('n_tiles')} tiles in {run.get('seconds')} s")
print(f"[demo] rice area {run.get('rice_area_ha')} ha; F1 {m['f1']:.3f}, rice IoU {m['iou_rice']:.3f}, "
      f"overall accuracy {m['oa']:.3f}, kappa {m['kappa']:.3f}")
print(f"[demo] QGIS project: {out / 'rice_demo.qgz'}")
print(f"[demo] PNG map:      {out / 'rice_map.png'}")
print(f"[demo] results:      {out / 'map'} (rice, probability, heatmap, error with .qml styles), "
      f"{out / 'zones.gpkg'} (rice_ha, rice_pct per zone), {out / 'evaluation' / 'metrics_table.gpkg'}")
PYEOF
