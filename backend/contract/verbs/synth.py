"""``synth``: write a synthetic Sentinel-1 VV/VH scene with rice truth (see docs/synthetic.md)."""

from __future__ import annotations

from ..schema import Option, Verb
from ..shared import OVERWRITE_OPTION

REGIONS = ("korea", "arkansas", "sacramento", "mekong", "delta")  # backend.synthetic.regions (a test keeps them equal)
MIN_SIZE, MAX_SIZE = 16, 1024  # px, as backend.synthetic.scene checks

VERB = Verb(
    name="synth",
    help="write a synthetic Sentinel-1 VV/VH rice scene (rasters, truth.tif, labels.gpkg, scene.json)",
    options=(
        Option("region", "choice", "Region preset", "region preset", choices=REGIONS, required=True),
        Option("size", "int", "Scene size (pixels)", "scene width and height in pixels", default=128,
               minimum=MIN_SIZE, maximum=MAX_SIZE),
        Option("seed", "int", "Random seed", "random seed; the same seed gives the same scene", default=0,
               minimum=0),
        Option("layout", "choice", "Layout", "a: VV.tif/VH.tif with one band per date; b: one file per date and "
               "polarization; c: one interleaved stack.tif", default="a", choices=("a", "b", "c")),
        Option("start", "date", "Season start", "season start YYYY-MM-DD (default: the region's season in 2022)",
               metavar="DATE"),
        Option("end", "date", "Season end", "season end YYYY-MM-DD", metavar="DATE"),
        Option("looks", "float", "Equivalent number of looks", "equivalent number of looks of the speckle (S1 IW "
               "GRD about 4.4)", default=4.4, minimum=0.1, maximum=1000.0),
        Option("units", "choice", "Units", "backscatter units of the written rasters", default="linear",
               choices=("linear", "db")),
        Option("pixel_size", "float", "Pixel size (m)", "pixel size in metres", default=10.0, minimum=0.1,
               maximum=100000.0),
        Option("revisit_days", "int", "Revisit (days)", "repeat cycle of each of the two orbits in days "
               "(default: the region's, 12)", minimum=1, maximum=60),
        Option("missing_rate", "float", "Missing acquisitions", "probability that an acquisition is missing",
               default=0.04, minimum=0.0, maximum=0.99),
        Option("calendar_shift", "float", "Calendar shift (days)", "shift of the whole crop calendar in days "
               "(default: random within the region's range)", minimum=-365.0, maximum=365.0),
        Option("out", "folder", "Output folder", "output folder (created; must be empty unless overwriting)",
               required=True, metavar="DIR"),
        OVERWRITE_OPTION,
    ),
    outputs=("truth.tif", "labels.gpkg", "scene.json"),
    result_keys=("out", "layout", "units", "region", "dates", "rice_share", "files"),
)
