"""Run Deepness's segmentation engine headless on one raster: the other side of `bench --deepness`.

Runs in QGIS's Python (``/usr/bin/python3`` or a venv made from it with ``--system-site-packages``) with
Deepness's ``src`` folder on ``PYTHONPATH``; Deepness itself is never part of this repository (it is fetched
into a cache by ``backend.experiments.deepness``). Prints one JSON line: the seconds of
``MapProcessorSegmentation.run()`` (tiling, model calls, stitching, its median filter and the polygon layer
it builds) and of the whole script, and writes the class map (1 other, 2 rice) to ``--out`` as ``.npy``.

Usage: python3 deepness_headless.py --raster composite.tif --model wrapper.onnx --tile 256 --overlap 32
       --threshold 0.5 --resolution-cm 1000 --out result.npy
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

START = time.perf_counter()
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raster", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--overlap", type=int, default=32)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--resolution-cm", type=float, default=1000.0)
    parser.add_argument("--out", required=True)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    import numpy as np
    from deepness.common.channels_mapping import ChannelsMapping, ImageChannelStandaloneBand
    from deepness.common.processing_overlap import ProcessingOverlap, ProcessingOverlapOptions
    from deepness.common.processing_parameters.map_processing_parameters import ProcessedAreaType
    from deepness.common.processing_parameters.segmentation_parameters import SegmentationParameters
    from deepness.processing.map_processor.map_processor_segmentation import MapProcessorSegmentation
    from deepness.processing.models.segmentor import Segmentor
    from qgis.core import QgsApplication, QgsProject, QgsRasterLayer

    app = QgsApplication([b""], False)
    app.initQgis()
    layer = QgsRasterLayer(args.raster, "composite")
    if not layer.isValid():
        print(json.dumps({"error": f"QGIS cannot open {args.raster}"}))
        return 2
    QgsProject.instance().addMapLayer(layer)
    channels = ChannelsMapping()
    channels.set_image_channels([ImageChannelStandaloneBand(band_number=b, name=f"band {b}")
                                 for b in range(1, layer.bandCount() + 1)])
    channels.set_number_of_model_inputs_same_as_image_channels()
    model = Segmentor(args.model)
    params = SegmentationParameters(
        resolution_cm_per_px=args.resolution_cm, tile_size_px=args.tile, batch_size=1, local_cache=False,
        processed_area_type=ProcessedAreaType.ENTIRE_LAYER, mask_layer_id=None, input_layer_id=layer.id(),
        input_channels_mapping=channels, postprocessing_dilate_erode_size=0,
        processing_overlap=ProcessingOverlap(ProcessingOverlapOptions.OVERLAP_IN_PIXELS, overlap_px=args.overlap),
        pixel_classification__probability_threshold=args.threshold, model=model)
    processor = MapProcessorSegmentation(rlayer=layer, vlayer_mask=None, map_canvas=None, params=params)
    t0 = time.perf_counter()
    processor.run()
    engine_seconds = time.perf_counter() - t0
    result = processor.get_result_img()
    np.save(args.out, np.asarray(result[0], dtype=np.uint8))
    print(json.dumps({"engine_seconds": round(engine_seconds, 3),
                      "script_seconds": round(time.perf_counter() - START, 3),
                      "shape": list(result.shape)}))
    app.exitQgis()
    return 0


if __name__ == "__main__":
    sys.exit(main())
