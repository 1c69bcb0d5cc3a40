"""``finetune``: turn digitized rice / non-rice labels into a new local model (transfer learning)."""

from __future__ import annotations

from ..schema import Event, Option, Verb
from ..shared import OVERWRITE_OPTION, SERIES_OPTIONS, model_option, threads_option

#: Time-shift augmentation, in composite steps (0 = off). With the default 13 steps over a season, 4 steps
#: are about 6 weeks; chosen on the An Giang learning curve (docs/finetuning.md).
DEFAULT_TIME_SHIFT = 4
MODES = ("RI", "FT", "FTE", "FTD")

VERB = Verb(
    name="finetune",
    help="fine-tune a pretrained rice model on local labels (polygons, points or a label raster) and save it "
         "as a new model (modes RI, FT, FTE, FTD)",
    options=(
        *SERIES_OPTIONS,
        Option("labels", "file", "Labels", "labels: polygons or points (.gpkg, .shp) or a label raster",
               metavar="FILE", group="labels"),
        Option("class_field", "str", "Class field", "field holding the class (default: a field named class, "
               "label, rice, ...)", metavar="F", group="labels"),
        Option("rice_values", "strs", "Value(s) meaning rice", "values of the class field that mean rice "
               "(default: 1 rice); every other labelled feature is non-rice", aliases=("--rice-value",),
               metavar="V", group="labels"),
        Option("season", "date_range", "Season", "season to composite, YYYY-MM-DD YYYY-MM-DD (default: the base "
               "model's season length ending at the last acquisition)", metavar="START END", group="labels"),
        Option("manifest", "file", "Manifest (CSV)", "labels spread over several scenes: CSV with columns vv, vh, "
               "labels[, season_start, season_end]; ';' separates several files in a cell; paths relative to "
               "the CSV", metavar="CSV", group="labels", advanced=True),
        model_option("base_model", "Base model", "model to start from (default: the bundled default)",
                     group="training"),
        Option("mode", "choice", "Mode", "RI random init, FT all weights, FTE encoder only (decoder frozen), "
               "FTD decoder only", default="FTE", choices=MODES, upper=True, group="training"),
        Option("epochs", "int", "Epochs", "most epochs (early stopping on validation F1)", default=20, minimum=1,
               maximum=1000, group="training"),
        Option("lr", "float", "Learning rate", "peak learning rate", default=1e-3, minimum=1e-6, maximum=1.0,
               group="training", advanced=True),
        Option("patch", "int", "Patch size (pixels)", "patch size in pixels (32 is the pretraining crop size)",
               default=32, minimum=8, maximum=512, group="training", advanced=True),
        Option("batch", "int", "Patches per step", "patches per step", default=16, minimum=1, maximum=1024,
               group="training", advanced=True),
        Option("seed", "int", "Random seed", "random seed (split, patches, initialisation)", default=0, minimum=0,
               group="training", advanced=True),
        Option("block", "int", "Validation block (pixels)", "spatial block in pixels that groups points for the "
               "validation split (default: the patch size)", minimum=1, group="training", advanced=True),
        Option("max_patches", "int", "Most training patches", "most training patches", default=256, minimum=2,
               maximum=100000, group="training", advanced=True),
        Option("add_vv", "bool", "Add VV to a VH-only model", "VV adaptation: train a VH-only base model with VH "
               "and VV input (paper Eq. 3)", default=False, group="training", advanced=True),
        Option("early_season", "bool", "Early-season training", "chronologically ordered early-season batches, so "
               "the model also maps mid-season", default=False, group="training", advanced=True),
        Option("time_shift", "int", "Time shift (composite steps)", "augmentation: shift each patch's series by up "
               "to this many composite steps, so the model does not learn one sowing calendar (0 = off)",
               default=DEFAULT_TIME_SHIFT, minimum=0, maximum=12, metavar="STEPS", group="training", advanced=True),
        Option("l2sp", "float", "L2-SP strength", "pull the weights back towards the base model's during training "
               "(L2-SP; 0 = off)", default=0.0, minimum=0.0, maximum=100.0, metavar="STRENGTH", group="training",
               advanced=True),
        threads_option("CPU threads for PyTorch (default: PyTorch's choice)", group="training"),
        Option("name", "str", "New model name", "name of the new model (a folder of that name is written into the "
               "output folder)", required=True, group="output"),
        Option("out", "folder", "Parent folder for the new model", "folder for the new model (default: the user "
               "model folder)", metavar="DIR", group="output"),
        OVERWRITE_OPTION,
    ),
    result_keys=("model", "path", "base_model", "mode", "validation", "best_epoch", "epochs_run", "seconds",
                 "patches"),
    events=(Event("epoch", ("epoch", "loss", "val_loss", "val_f1", "val_iou", "seconds"), "one training epoch finished"),
            Event("batch", ("epoch", "batch", "batches"), "training progress within an epoch: batch of batches "
                  "done (0 when the epoch starts, then at most two a second, and always the epoch's last)")),
)
