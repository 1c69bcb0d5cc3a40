"""``riceareastats``: rice area and share per zone of a boundary layer, summed block by block."""

from __future__ import annotations

from ..schema import Option, Verb
from ..shared import OVERWRITE_OPTION
from .map import VERB as MAP

VERB = Verb(
    name="riceareastats",
    help="rice area and share per zone (districts, provinces) of a polygon layer, summed block by block within "
         "a fixed memory bound; writes zones_rice.gpkg and zones_rice.csv",
    options=(
        Option("rice", "file", "Rice map", "rice.tif from map (1 rice, 0 other, 255 no data)", metavar="TIF",
               required=True, group="rice area per zone"),
        Option("zones", "file", "Zones", "polygon layer (any CRS), one feature per zone; zones should not "
               "overlap", metavar="FILE", required=True, group="rice area per zone"),
        Option("out", "folder", "Output folder", "folder for zones_rice.gpkg and zones_rice.csv", required=True,
               metavar="DIR", group="output"),
        OVERWRITE_OPTION,
        MAP.option("cluster"),
        Option("block", "int", "Block size (pixels)", "side of one block of the rice map summed at a time",
               default=2048, minimum=256, maximum=65536, group="cluster", advanced=True),
    ),
    outputs=("zones_rice.gpkg", "zones_rice.csv"),
    result_keys=("zones", "rice_ha", "mapped_ha", "outputs"),
)
