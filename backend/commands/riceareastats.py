"""``riceareastats``: rice area (ha) and share (%) per zone of a boundary layer, block-wise, optionally on Dask."""

from __future__ import annotations

import argparse

from backend.atomic import check_outputs
from backend.contract.verbs.riceareastats import VERB as CONTRACT
from backend.distributed import require_dask
from backend.distributed.cluster import connect, parse_cluster
from backend.progress import Reporter


def check(args: argparse.Namespace, reporter: Reporter) -> dict:
    """``--check-only``: the rice map and the zones open, the output folder takes the results."""
    from backend.distributed.zonal import open_inputs  # lazy: keeps --help free of numpy

    if args.cluster:
        parse_cluster(args.cluster)
    dataset, zones = open_inputs(args.rice, args.zones)
    dataset.close()
    check_outputs(args.out, CONTRACT.outputs, args.overwrite)
    return {"zones": len(zones), "width": dataset.width, "height": dataset.height}


def run(args: argparse.Namespace, reporter: Reporter) -> dict:
    from backend.distributed.zonal import zonal_rice  # lazy: keeps --help free of numpy

    if not args.cluster:
        return zonal_rice(args.rice, args.zones, args.out, args.overwrite, None, args.block, reporter)

    require_dask()
    client, cluster = connect(args.cluster)
    try:
        return zonal_rice(args.rice, args.zones, args.out, args.overwrite, client, args.block, reporter)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
