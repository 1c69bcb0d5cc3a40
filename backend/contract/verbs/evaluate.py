"""``evaluate``: accuracy of a rice map against a truth raster or labelled polygons."""

from __future__ import annotations

from ..schema import Option, Verb
from ..shared import OVERWRITE_OPTION, styled

VERB = Verb(
    name="evaluate",
    help="compare a rice map with a reference (raster or polygons): error.tif with TP/FP/FN/TN and metrics.json",
    options=(
        Option("pred", "file", "Rice map", "rice map written by `map` (uint8: 1 rice, 0 other, 255 nodata)",
               required=True, metavar="RICE_TIF"),
        Option("reference", "file", "Reference", "truth raster (e.g. truth.tif) or labelled polygons "
               "(e.g. labels.gpkg)", required=True, metavar="PATH"),
        Option("class_field", "str", "Reference class field", "vector field holding the class (default: a field "
               "named class/label/rice/...)", metavar="F"),
        Option("rice_values", "strs", "Value(s) meaning rice", "value(s) of the class field or raster meaning "
               "rice (default: 1 or 'rice')", flag="--rice-value", aliases=("--rice-values",), metavar="V"),
        Option("out", "folder", "Output folder", "folder for error.tif, error.qml, metrics.json", required=True,
               metavar="DIR", group="output"),
        OVERWRITE_OPTION,
    ),
    outputs=(*styled("error"), "metrics.json"),
    result_keys=("oa", "precision", "recall", "f1", "iou_rice", "iou_other", "miou", "kappa", "pixels", "area_ha"),
)
