"""``evaluate``: accuracy of a rice map against a truth raster or labelled polygons."""

from __future__ import annotations

import argparse

from backend.atomic import check_outputs
from backend.contract.verbs.evaluate import VERB as CONTRACT
from backend.progress import Reporter


def check(args: argparse.Namespace, reporter: Reporter) -> None:
    """``--check-only``: the rice map and the reference open and fit, the output folder takes the results."""
    from backend.evaluation.evaluate import check_inputs  # lazy: keeps --help free of numpy

    check_inputs(args.pred, args.reference, args.class_field, args.rice_values)
    check_outputs(args.out, CONTRACT.outputs, args.overwrite)


def run(args: argparse.Namespace, reporter: Reporter) -> dict:
    import rasterio

    from backend.evaluation.evaluate import evaluate_map  # lazy: keeps --help free of numpy
    from backend.writers.geotiff import GDAL_CACHE_BYTES  # lazy: keeps --help free of numpy

    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_BYTES):  # bounded memory whatever the map size
        return evaluate_map(args.pred, args.reference, args.out, class_field=args.class_field,
                            rice_values=args.rice_values, overwrite=args.overwrite, reporter=reporter)
