"""``bench``: throughput, int8 accuracy, roofline ratio, tile-size dependence and peak memory of `map`."""

from __future__ import annotations

from ..schema import Option, Verb
from ..shared import model_option, threads_option
from .map import MAX_TILE

SCENE_SIZES = (1024, 4096, 10240)

VERB = Verb(
    name="bench",
    help="benchmark the default model: ONNX fp32/int8 and PyTorch tiles/s and km²/min, roofline ratio, int8 F1 "
         "change, tile-size dependence, peak memory of map on 1k²/4k²/10k² scenes (JSON)",
    options=(
        Option("out", "folder", "Output folder", "folder for bench.json", required=True, metavar="DIR"),
        model_option(help_text="model to benchmark (default: the bundled default)"),
        threads_option(),
        Option("batch", "int", "Tiles per batch", "tiles handed to each engine at once (ONNX Runtime runs them one "
               "per call, as in map)", default=1, minimum=1, maximum=64),
        Option("quick", "bool", "Quick", "skip the 10k² scene and shorten the timings", default=False),
        Option("skip_memory", "bool", "Skip memory runs", "skip the whole-scene peak-memory runs", default=False),
        Option("memory_only", "bool", "Only memory runs", "only the whole-scene peak-memory runs (no throughput, "
               "int8 or tile-size checks)", default=False),
        Option("memory_engine", "choice", "Engine of the memory runs", "what the peak-memory runs map with: onnx "
               "(the default map's engine) or openvino (the optional extra, f32)", default="onnx",
               choices=("onnx", "openvino")),
        Option("scene_sizes", "ints", "Scene sides (pixels)", "scene sides for the peak-memory runs (default "
               f"{' '.join(map(str, SCENE_SIZES))}; quick: the first two)", minimum=64, maximum=65536,
               metavar="PX"),
        Option("tile_sizes", "ints", "Tile sizes (pixels)", "tile sizes for the tile-size dependence check",
               default=(128, 256, 512), minimum=16, maximum=MAX_TILE, metavar="PX"),
        Option("deepness", "bool", "Compare with Deepness", "also compare our default map with Deepness's engine "
               "on the same model and scene (interleaved rounds; skipped with a message when Deepness cannot be "
               "fetched)", default=False),
        Option("deepness_only", "bool", "Only the Deepness comparison", "only the Deepness comparison",
               default=False),
        Option("deepness_repo", "str", "Deepness repository", "git repository (URL or path) with Deepness's "
               "pinned commit (default: its public repository)", metavar="URL|PATH"),
        Option("deepness_sizes", "ints", "Deepness scene sides (pixels)", "synthetic Mekong scene sides for the "
               "Deepness comparison", default=(512, 1024), minimum=64, maximum=8192, metavar="PX"),
        Option("deepness_rounds", "int", "Deepness rounds", "interleaved rounds per scene", default=3, minimum=1,
               maximum=20),
    ),
    outputs=("bench.json",),
    result_keys=("model", "machine", "tile", "overlap", "batch", "engines", "int8", "roofline", "ratios",
                 "tile_dependence", "cuda", "memory", "targets", "deepness"),
)
