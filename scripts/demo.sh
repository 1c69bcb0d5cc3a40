#!/usr/bin/env bash
# `make demo`: a synthetic Mekong-like sample scene, mapped with the bundled default model, evaluated
# against the scene's truth. Everything lands in demo_output/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
OUT=demo_output
rm -rf "$OUT"
mkdir -p "$OUT"

echo "[demo] 1/3 synthetic Sentinel-1 scene (Mekong-like, 512 x 512 px, 2022) -> $OUT/scene"
$PY -m backend synth --region mekong --size 512 --seed 7 --layout a --start 2022-03-15 --end 2022-09-15 \
    --out "$OUT/scene" >/dev/null

echo "[demo] 2/3 map rice, season 2022-04-01..2022-08-31 -> $OUT/map"
$PY -m backend map --vv "$OUT/scene/VV.tif" --vh "$OUT/scene/VH.tif" --season 2022-04-01 2022-08-31 \
    --out "$OUT/map" > "$OUT/map_result.json"

echo "[demo] 3/3 evaluate against the scene's truth -> $OUT/evaluation"
$PY -m backend evaluate --pred "$OUT/map/rice.tif" --reference "$OUT/scene/truth.tif" --out "$OUT/evaluation" \
    > "$OUT/evaluation_result.json"

$PY - "$OUT" <<'PYEOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
run = json.loads((out / "map" / "run.json").read_text())
m = json.loads((out / "evaluation" / "metrics.json").read_text())
print(f"[demo] model {run['model']['name']} ({run['engine']['name']}), {run.get('tiles')} tiles in {run.get('seconds')} s")
print(f"[demo] rice area {run.get('rice_area_ha')} ha; F1 {m['f1']:.3f}, rice IoU {m['iou_rice']:.3f}, OA {m['oa']:.3f}")
print(f"[demo] outputs: {(out / 'map').resolve()} (rice.tif, probability.tif, heatmap.tif with .qml styles)")
PYEOF
