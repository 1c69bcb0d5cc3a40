"""``fetch``: Sentinel-1 VV/VH for an area and a season from a STAC API (issue 16, docs/catalogues.md)."""

from __future__ import annotations

from ..schema import Event, Option, Verb
from ..shared import OUT_OPTION, OVERWRITE_OPTION

PRESETS = ("planetary-computer", "cdse", "custom")
ORBITS = ("auto", "ascending", "descending", "both")
DEFAULT_PIXEL_SIZE = 10.0  # m: the native RTC/GRD pixel spacing
# S1_ prefix: a synthetic scene's VV.tif/VH.tif are another verb's files, so these names stay distinct
SERIES_FILES = {"VV": "S1_VV.tif", "VH": "S1_VH.tif"}
RECORD_FILE = "fetch.json"

VERB = Verb(
    name="fetch",
    help="get Sentinel-1 VV/VH for an area and a season from a STAC API: writes S1_VV.tif, S1_VH.tif (one "
         "band per date, linear power) and fetch.json",
    options=(
        Option("preset", "choice", "Catalogue", "built-in catalogue: planetary-computer (sentinel-1-rtc, "
               "signed automatically), cdse (Copernicus Data Space), custom (give the URL and collection)",
               choices=PRESETS, group="catalogue"),
        Option("stac_url", "str", "STAC API URL", "STAC API URL (default: the preset's)", metavar="URL",
               group="catalogue"),
        Option("collection", "str", "Collection", "collection id (default: the preset's)", metavar="NAME",
               group="catalogue"),
        Option("assets", "str", "Asset names", "asset keys per role when they differ from the preset's, "
               "e.g. VV=vv,VH=vh[,MASK=mask]", metavar="MAP", group="catalogue", advanced=True),
        Option("bbox", "bbox", "Area (bounding box)", "area as MINX MINY MAXX MAXY (lon/lat unless --bbox-crs)",
               metavar="MINX MINY MAXX MAXY", group="area"),
        Option("bbox_crs", "str", "CRS of the bounding box", "CRS of --bbox as an EPSG code (default 4326)",
               metavar="EPSG", group="area"),
        Option("area", "file", "Area (vector file)", "area as a vector file (GeoPackage, shapefile, GeoJSON; "
               "any CRS): the union of its geometries", metavar="FILE", group="area"),
        Option("season", "date_range", "Season", "season start and end, YYYY-MM-DD YYYY-MM-DD",
               metavar="START END", required=True, group="season"),
        Option("orbit", "choice", "Orbit direction", "orbit direction; auto keeps the one with more "
               "acquisitions (reported)", default="auto", choices=ORBITS, group="season"),
        Option("pixel_size", "float", "Pixel size (m)", "output pixel size in metres", default=DEFAULT_PIXEL_SIZE,
               minimum=1.0, maximum=1000.0, group="grid"),
        Option("crs", "str", "Output CRS", "output CRS as an EPSG code (default: the UTM zone of the area)",
               metavar="EPSG", group="grid"),
        Option("catalogue_only", "bool", "Only list the items (fetch.json)", "write fetch.json only, without "
               "downloading; map then streams the COG windows: map --vv fetch.json --vh fetch.json",
               default=False, group="output", advanced=True),
        OUT_OPTION,
        OVERWRITE_OPTION,
    ),
    outputs=(*SERIES_FILES.values(), RECORD_FILE),
    result_keys=("out", "files", "dates", "items", "orbits", "orbit_counts", "crs", "width", "height",
                 "pixel_size", "bytes_downloaded_to_cache", "dates_resumed", "problems", "grouping"),
    events=(Event("fetch_progress", ("date", "items_done", "items_total", "bytes_written", "resumed"),
                  "one acquisition date was fetched (or found in the cache)"),),
)
