"""``describe``: the contract between the QGIS plugin and the backend, as JSON."""

from __future__ import annotations

import argparse

from backend.contract import describe
from backend.progress import Reporter


def run(args: argparse.Namespace, reporter: Reporter) -> dict:
    return describe()
