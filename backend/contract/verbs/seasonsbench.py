"""``seasonsbench``: the seasons measurements (multi-crop synthetic, window robustness, real An Giang) as JSON."""

from __future__ import annotations

from ..schema import Option, Verb
from ..shared import OVERWRITE_OPTION, model_option, threads_option

VERB = Verb(
    name="seasonsbench",
    help="measure seasons: cropping intensity, transplanting dates and per-season F1 on held-out synthetic "
         "double/triple rice, map F1 against the window given (synthetic and real An Giang), early-season F1; "
         "writes seasons.json and seasons_table.md",
    options=(
        Option("out", "folder", "Output folder", "folder for seasons.json and seasons_table.md", required=True,
               metavar="DIR"),
        model_option(),
        Option("seeds", "ints", "Scene seeds", "synthetic scene seeds (each region)", default=(101, 102), minimum=0,
               maximum=2**31 - 1, metavar="SEED"),
        Option("size", "int", "Scene side (pixels)", "synthetic scene side in pixels", default=128, minimum=64,
               maximum=1024),
        Option("data", "folder", "Data folder", "folder with train_cubes.npz (default: "
               "../shared/data/ey2023-angiang)", metavar="DIR"),
        Option("timing_size", "int", "Timing scene side (pixels)", "side of the synthetic Mekong scene (seed 1) on "
               "which the time map spends choosing its season is measured; 0 skips it", default=1024, minimum=0,
               maximum=1024),
        Option("real", "bool", "Real An Giang part", "the real An Giang part", default=True, flag="--no-real"),
        threads_option(help_text="CPU threads (default 2)"),
        Option("docs", "bool", "Update the docs", "also write docs/results/seasons.json and regenerate the tables "
               "of docs/seasons.md", default=False),
        OVERWRITE_OPTION,
    ),
    outputs=("seasons.json", "seasons_table.md"),
    result_keys=("model", "multicrop", "window_robustness", "summary", "angiang", "choice_timing", "load_average"),
)
