"""``learningcurve``: F1 on held-out real sites against the number of labels, for RF, RI, FT and FTE."""

from __future__ import annotations

from ..schema import Option, Verb
from ..shared import model_option
from .finetune import DEFAULT_TIME_SHIFT, MODES

VERB = Verb(
    name="learningcurve",
    help="real-data learning curve on the An Giang cubes: F1 on held-out sites vs. number of labelled points for "
         "Random Forest, RI, FT and FTE (transfer-learning paper, Table 1 design)",
    options=(
        Option("data", "folder", "Data folder", "folder with train_cubes.npz (default: "
               "../shared/data/ey2023-angiang)", metavar="DIR"),
        model_option("base_model", "Base model", "pretrained model (default: the bundled default)"),
        Option("sizes", "strs", "Training points", "numbers of labelled training points, or 'all'",
               default=("10", "20", "50", "100", "all"), metavar="N"),
        Option("methods", "strs", "Methods", "methods to compare", default=("RF", "RI", "FT", "FTE"),
               choices=("RF", *MODES), upper=True),
        Option("seeds", "ints", "Seeds", "repeats (sample and initialisation seeds)", default=(0,), minimum=0),
        Option("epochs", "int", "Epochs", "epochs per network run", default=10, minimum=1, maximum=1000),
        Option("batch", "int", "Batch size", "batch size", default=8, minimum=1, maximum=1024),
        Option("lr", "float", "Learning rate", "peak learning rate", default=1e-3, minimum=1e-6, maximum=1.0),
        Option("time_shift", "int", "Time shift (composite steps)", "augmentation: shift each series by up to this "
               "many composite steps (as in finetune; 0 = off)", default=DEFAULT_TIME_SHIFT, minimum=0, maximum=12,
               metavar="STEPS"),
        Option("l2sp", "float", "L2-SP strength", "pull fine-tuned weights back towards the pretrained ones "
               "(L2-SP; 0 = off)", default=0.0, minimum=0.0, maximum=100.0, metavar="STRENGTH"),
        Option("workers", "int", "Processes", "processes: 2 runs the two folds in parallel", default=1, minimum=1,
               maximum=2),
        Option("out", "file", "Result file (JSON)", "write the result to this JSON file", metavar="JSON"),
        Option("cache", "file", "Cube cache (.npy)", "keep the composited cubes in this .npy file between runs "
               "(outside the repository: the data must not be copied into it)", metavar="NPY"),
    ),
    result_keys=("table_markdown",),
)
