"""``riceareastats``: rice area (ha) and share (%) per zone of a boundary layer, block-wise, optionally on Dask."""

from __future__ import annotations

import argparse

from backend.contract import cli_args
from backend.contract.verbs.riceareastats import VERB as CONTRACT
from backend.errors import UserError
from backend.progress import Reporter

HELP = CONTRACT.help


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli_args.add_arguments(parser, CONTRACT)


def run(args: argparse.Namespace, reporter: Reporter) -> dict:
    from backend.distributed.zonal import zonal_rice

    if not args.out:
        raise UserError("{param:out} is required: the folder for zones_rice.gpkg and zones_rice.csv", param="out")
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
