"""Options and outputs several verbs share (the input series, output folder, overwrite)."""

from __future__ import annotations

from .schema import Option

SERIES_OPTIONS = (
    Option("vv", "files", "VV time series", "VV: one multi-band file (one band per date) or one file per date",
           metavar="FILE", group="input series"),
    Option("vh", "files", "VH time series", "VH: one multi-band file (one band per date) or one file per date",
           metavar="FILE", group="input series"),
    Option("stack", "file", "Interleaved VV/VH stack",
           "one interleaved stack with band descriptions like VV_20220109, VH_20220109",
           metavar="FILE", group="input series", advanced=True),
    Option("dates", "str", "Acquisition dates",
           "acquisition dates when the files carry none: a file with one date per line or a comma-separated "
           "list, one per band of each polarization, in band order", metavar="FILE|DATES", group="input series",
           advanced=True),
    Option("align", "bool", "Resample layers onto the first layer's grid",
           "resample layers whose grid differs onto the first layer's grid (bilinear)", default=False,
           group="input series", advanced=True),
)

OUT_OPTION = Option("out", "folder", "Output folder", "output folder", metavar="DIR", group="output")
OVERWRITE_OPTION = Option("overwrite", "bool", "Replace results already in the folder",
                          "replace results already in the output folder", default=False, group="output")

# Every styled raster output has a .qml beside it.
def styled(*names: str) -> tuple[str, ...]:
    """``rice`` -> ``rice.tif``, ``rice.qml``, for each name."""
    return tuple(f"{n}.{ext}" for n in names for ext in ("tif", "qml"))
