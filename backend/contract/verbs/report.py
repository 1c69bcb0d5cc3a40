"""``report``: the reproduction table of every bundled model (held-out synthetic region and real data)."""

from __future__ import annotations

from ..schema import Option, Verb

VERB = Verb(
    name="report",
    help="reproduction report: bundled models on the held-out synthetic region and the real An Giang cubes",
    options=(
        Option("models", "folder", "Models folder", "folder of model folders (default: the bundled models/)",
               metavar="DIR"),
        Option("real", "bool", "Real-data columns", "the real-data columns", default=True, flag="--no-real"),
        Option("out", "folder", "Output folder", "write report.json and report.md into this folder", metavar="DIR"),
    ),
    outputs=("report.json", "report.md"),
    result_keys=("models", "markdown"),
)
