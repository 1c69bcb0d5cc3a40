"""Options and outputs several verbs share (the input series, output folder, overwrite, model, threads)."""

from __future__ import annotations

from .schema import Option

SERIES_OPTIONS = (
    Option("vv", "files", "VV time series", "VV: one multi-band file (one band per date) or one file per date",
           metavar="FILE", group="input series"),
    Option("vh", "files", "VH time series", "VH: one multi-band file (one band per date) or one file per date",
           metavar="FILE", group="input series"),
    Option("stack", "file", "Interleaved VV/VH stack",
           "one interleaved stack with band descriptions like VV_20220109, VH_20220109",
           metavar="FILE", group="input series", advanced=True),
    Option("dates", "str", "Acquisition dates",
           "acquisition dates when the files carry none: a file with one date per line or a comma-separated "
           "list, one per band of each polarization, in band order", metavar="FILE|DATES", group="input series",
           advanced=True),
    Option("align", "bool", "Resample layers onto the first layer's grid",
           "resample layers whose grid differs onto the first layer's grid (bilinear)", default=False,
           group="input series", advanced=True),
)

# ``info`` also takes bare file names and detects their layout and polarization.
PATHS_OPTION = Option("paths", "files", "Raster files", "raster files; their layout and polarization are detected",
                      metavar="PATH", positional=True)

OUT_OPTION = Option("out", "folder", "Output folder", "output folder", metavar="DIR", group="output")
OVERWRITE_OPTION = Option("overwrite", "bool", "Replace results already in the folder",
                          "replace results already in the output folder", default=False, group="output")

MAX_THREADS = 256


def threads_option(help_text: str = "CPU threads (default: physical cores)", group: str = "") -> Option:
    """``--threads``: at least 1 (0 is refused by the contract's range, before any work)."""
    return Option("threads", "int", "CPU threads", help_text, minimum=1, maximum=MAX_THREADS, group=group,
                  advanced=True)


ENGINES = ("auto", "onnx", "torch", "openvino")
PRECISIONS = ("f32", "bf16")  # the first is every engine's default


def engine_option(group: str = "") -> Option:
    """``--engine``: what runs the model (``auto`` never picks OpenVINO, an optional extra)."""
    return Option("engine", "choice", "Engine", "auto: PyTorch on a CUDA GPU when present, else ONNX Runtime on "
                  "the CPU; openvino: Intel's OpenVINO on the CPU, the same f32 results, faster on recent Intel "
                  "Xeons (the backend's 'openvino' extra)", default="auto", choices=ENGINES, group=group,
                  advanced=True)


def model_option(key: str = "model", label: str = "Model", help_text: str = "model name or folder (default: the "
                 "bundled default)", group: str = "") -> Option:
    """A model by installed name or folder; empty means the default model (:mod:`.models`)."""
    return Option(key, "model", label, help_text, metavar="NAME|PATH", group=group)


# Every styled raster output has a .qml beside it.
def styled(*names: str) -> tuple[str, ...]:
    """``rice`` -> ``rice.tif``, ``rice.qml``, for each name."""
    return tuple(f"{n}.{ext}" for n in names for ext in ("tif", "qml"))
