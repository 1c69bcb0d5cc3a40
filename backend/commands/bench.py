"""``bench``: throughput, int8 accuracy, roofline ratio, tile-size dependence and peak memory of `map`."""

from __future__ import annotations

import argparse

from backend.atomic import check_outputs
from backend.errors import UserError
from backend.progress import Reporter


def check(args: argparse.Namespace, reporter: Reporter) -> None:
    """Options that exclude each other (ranges are the contract's), and an output folder that can be written
    (a bench replaces its own results, so existing ones are not refused)."""
    if args.memory_only and args.skip_memory:
        raise UserError("{param:memory_only} and {param:skip_memory} exclude each other: pick one",
                        param="memory_only")
    check_outputs(args.out, (), overwrite=True)


def run(args: argparse.Namespace, reporter: Reporter) -> dict:
    check(args, reporter)
    from backend.experiments.bench import run_bench  # lazy: pulls numpy and the inference stack, --help stays fast

    return run_bench(args, reporter)
