"""``realcheck``: zero-shot accuracy of a model on the real An Giang cubes, next to a site-grouped RF."""

from __future__ import annotations

from ..schema import Option, Verb
from ..shared import model_option

VERB = Verb(
    name="realcheck",
    help="zero-shot check of a model on real Sentinel-1 cubes (An Giang 2022) with a site-grouped RF reference",
    options=(
        model_option(),
        Option("data", "folder", "Data folder", "folder with train_cubes.npz (default: "
               "../shared/data/ey2023-angiang)", metavar="DIR"),
        Option("engine", "choice", "Engine", "inference engine", default="onnx", choices=("onnx", "torch")),
        Option("rf", "bool", "Random Forest reference", "the Random Forest reference", default=True,
               flag="--no-rf"),
        Option("update_card", "bool", "Update the model card", "write the result into the model card's metrics "
               "(pretraining does this)", default=False),
    ),
    result_keys=("zero_shot", "random_forest_site_cv"),
)
