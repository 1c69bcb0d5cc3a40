"""``describe``: the contract between the QGIS plugin and the backend, as JSON."""

from __future__ import annotations

import argparse

from backend.contract import describe
from backend.contract.verbs.describe import VERB as CONTRACT
from backend.progress import Reporter

HELP = CONTRACT.help


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``describe`` takes no options."""


def run(args: argparse.Namespace, reporter: Reporter) -> dict:
    return describe()
