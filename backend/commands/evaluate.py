"""``evaluate``: accuracy of a rice map against a truth raster or labelled polygons."""

from __future__ import annotations

import argparse

from backend.progress import Reporter

HELP = "compare a rice map with a reference (raster or polygons): error.tif with TP/FP/FN/TN and metrics.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pred", required=True, metavar="RICE_TIF",
                        help="rice map written by `map` (uint8: 1 rice, 0 other, 255 nodata)")
    parser.add_argument("--reference", required=True, metavar="PATH",
                        help="truth raster (e.g. truth.tif) or labelled polygons (e.g. labels.gpkg)")
    parser.add_argument("--class-field", metavar="F",
                        help="vector field holding the class (default: a field named class/label/rice/...)")
    parser.add_argument("--rice-value", nargs="+", metavar="V",
                        help="value(s) of the class field or raster meaning rice (default: 1 or 'rice')")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for error.tif, error.qml, metrics.json")
    parser.add_argument("--overwrite", action="store_true", help="replace results already in --out")


def run(args: argparse.Namespace, reporter: Reporter) -> dict:
    import rasterio

    from backend.evaluation.evaluate import evaluate_map
    from backend.inference.geotiff import GDAL_CACHE_BYTES

    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES):  # bounded memory whatever the map size
        return evaluate_map(args.pred, args.reference, args.out, class_field=args.class_field,
                            rice_values=args.rice_value, overwrite=args.overwrite, reporter=reporter)
