"""``pretrain``: train the bundled models on synthetic scenes (what `make pretrain` runs)."""

from __future__ import annotations

from ..schema import Event, Option, Verb
from ..shared import threads_option

VERB = Verb(
    name="pretrain",
    help="pretrain the bundled models on synthetic scenes (reproducible; see docs/training.md)",
    options=(
        Option("out", "folder", "Models folder", "folder for the model folders (default: the bundled models/ "
               "folder)", metavar="DIR"),
        Option("only", "strs", "Recipes", "train only these recipes", metavar="NAME"),
        Option("quick", "bool", "Quick", "tiny data and one epoch (smoke test)", default=False),
        Option("seed", "int", "Random seed", "random seed", default=0, minimum=0),
        threads_option("PyTorch CPU threads"),
        Option("reexport", "bool", "Re-export only", "no training: rebuild model.onnx (parity-checked) and the card "
               "checksums of the PyTorch models in the folder from their saved weights, e.g. after a change to "
               "the export", default=False),
    ),
    result_keys=("out", "models", "reexported"),
    events=(Event("epoch", ("model",), "one pretraining epoch of a model finished (with its training log)"),),
)
