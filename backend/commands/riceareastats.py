"""``riceareastats``: rice area (ha) and share (%) per zone of a boundary layer, block-wise, optionally on Dask."""

from __future__ import annotations

import argparse

from backend.progress import Reporter

HELP = ("rice area and share per zone (districts, provinces) of a polygon layer, summed block by block within "
        "a fixed memory bound; writes zones_rice.gpkg and zones_rice.csv")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("rice area per zone")
    group.add_argument("--rice", required=True, metavar="TIF", help="rice.tif from `map` (1 rice, 0 other)")
    group.add_argument("--zones", required=True, metavar="FILE", help="polygon layer (any CRS): one row per zone")
    group.add_argument("--out", required=True, metavar="DIR", help="folder for zones_rice.gpkg and zones_rice.csv")
    group.add_argument("--overwrite", action="store_true", help="replace results already in --out")
    group.add_argument("--cluster", metavar="ADDRESS|local[:N]", help="sum the blocks on a Dask cluster")
    group.add_argument("--block", type=int, default=2048, help="block side in pixels (default 2048)")


def run(args: argparse.Namespace, reporter: Reporter) -> dict:
    from backend.distributed.zonal import zonal_rice

    if not args.cluster:
        return zonal_rice(args.rice, args.zones, args.out, args.overwrite, None, args.block, reporter)
    from backend.distributed.cluster import connect

    client, cluster = connect(args.cluster)
    try:
        return zonal_rice(args.rice, args.zones, args.out, args.overwrite, client, args.block, reporter)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
