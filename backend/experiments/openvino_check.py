"""OpenVINO against ONNX Runtime on the default model: is a second CPU runtime worth shipping? (issue 15)

The issue asks to try the execution providers that exist for CPU inference and keep what wins. OpenVINO's
own runtime reads our ONNX file directly, so this compares one model call per tile in the same process,
interleaved round by round: ONNX Runtime with the backend's own session options
(:func:`backend.modelstore.onnx_io.session_options`) and OpenVINO's CPU plugin with a static input shape,
the latency hint and the same number of threads, in f32 and, where the CPU computes bfloat16 natively
(AMX or AVX512-BF16), in bf16; and the same through ONNX Runtime's OpenVINO plugin provider when
``onnxruntime-ep-openvino`` is installed. It also measures what OpenVINO would add to every ``map`` run
before its first tile (import, compilation with an empty and with a filled model cache, the first call's
warm-up), because a run of a few tiles pays those once, and what each variant changes in the rice labels of
a synthetic scene (bf16 is not the arithmetic the model was trained and checked in).

OpenVINO is the backend's optional ``openvino`` extra (``requirements/openvino.txt``, in the developer
environment too), which ``map --engine openvino`` uses (:mod:`backend.tiles.openvino_engine`). The plugin
provider is not a dependency (a 53 MB wheel, 165 MB installed); put it beside the environment to measure it::

    .venv/bin/pip install --no-deps --target /tmp/ovpkgs onnxruntime-ep-openvino==1.8.1
    PYTHONPATH=/tmp/ovpkgs .venv/bin/python -m backend.experiments.openvino_check --out result.json

Results and the decisions are in docs/mapping.md ("Issue 15, fifth pass" and "sixth pass").
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Callable

import numpy as np

from backend.errors import UserError
from backend.experiments.bench import cpu_record
from backend.experiments.inference_bench import crops, f1_score, synthetic_scene
from backend.inference.loader import default_model_name
from backend.modelstore.card import card_threshold, load_card
from backend.modelstore.onnx_io import INPUT_NAME, ONNX_FILE, THRESHOLD_NAME, session_options
from backend.modelstore.paths import confined_file, resolve
from backend.tiles.engines import OPENVINO_INSTALL
from backend.tiles.openvino_engine import compile_config, native_bf16


def _openvino() -> Any:
    try:
        import openvino
    except ImportError as exc:
        raise UserError(f"OpenVINO is not installed ({exc}); {OPENVINO_INSTALL}") from exc
    return openvino


def _tile_input(card: dict, tile: int, seed: int = 0) -> np.ndarray:
    """A (1, T, C, tile, tile) float32 batch of dB values at the levels of rice-country VV and VH."""
    inputs = card["inputs"]
    steps, pols = int(inputs["steps"]), list(inputs["polarizations"])
    rng = np.random.default_rng(seed)
    x = rng.normal(-14.0, 3.0, (1, steps, len(pols), tile, tile)).astype(np.float32)
    if "VH" in pols:
        x[:, :, pols.index("VH")] -= 6.0
    return x


def _timed(call: Callable[[], Any]) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    call()
    return time.perf_counter() - wall, time.process_time() - cpu


def _import_seconds() -> float:
    """``import openvino`` in a fresh interpreter (what a ``map`` run would pay)."""
    code = "import time; t = time.perf_counter(); import openvino; print(time.perf_counter() - t)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env=os.environ.copy(), timeout=120)
    return float(done.stdout.strip().splitlines()[-1])


def _compiled(openvino: Any, model: Path, x: np.ndarray, threads: int, cache: str | None,
              precision: str = "f32") -> tuple[Any, float]:
    """OpenVINO's CPU plugin on ``model`` for ``x``'s shape, computing in ``precision`` (f32 or bf16).

    The precision is always given: OpenVINO's own default is bf16 on CPUs that have it natively (AMX or
    AVX512-BF16), so an unset hint would compare a different arithmetic on such machines.
    """
    core = openvino.Core()
    if cache:
        core.set_property({"CACHE_DIR": cache})
    start = time.perf_counter()
    network = core.read_model(str(model))
    network.reshape({network.inputs[0].get_any_name(): list(x.shape)})
    compiled = core.compile_model(network, "CPU", compile_config(threads, precision))
    return compiled, time.perf_counter() - start


def _start_up(openvino: Any, model: Path, x: np.ndarray, threads: int) -> dict:
    """Seconds OpenVINO adds before the first tile: compile (empty / filled cache) and the first call."""
    with tempfile.TemporaryDirectory() as cache:
        _, cold = _compiled(openvino, model, x, threads, cache)
        compiled, warm = _compiled(openvino, model, x, threads, cache)
    request = compiled.create_infer_request()
    first, _ = _timed(lambda: request.infer({0: x}))
    second, _ = _timed(lambda: request.infer({0: x}))
    return {"import_seconds": round(_import_seconds(), 3), "compile_seconds_empty_cache": round(cold, 3),
            "compile_seconds_cached": round(warm, 3), "first_call_seconds": round(first, 3),
            "second_call_seconds": round(second, 3)}


Call = Callable[[np.ndarray], list[np.ndarray]]


def _openvino_call(openvino: Any, model: Path, x: np.ndarray, threads: int, precision: str) -> Call:
    compiled, _ = _compiled(openvino, model, x, threads, None, precision)
    request = compiled.create_infer_request()

    def call(batch: np.ndarray) -> list[np.ndarray]:
        answer = request.infer({0: batch})
        return [answer[out] for out in compiled.outputs]
    return call


@functools.cache
def _plugin_cpu_device(library: str, ep_name: str) -> Any:
    """The plugin provider's CPU device; the library is registered once per process (ORT refuses twice)."""
    import onnxruntime as ort

    ort.register_execution_provider_library("openvino_ep", library)
    return next(d for d in ort.get_ep_devices() if d.ep_name == ep_name and d.ep_metadata.get("ov_device") == "CPU")


def _plugin_ep_calls(model: Path, x: np.ndarray, threads: int, precisions: list[str]) -> dict[str, Call]:
    """ONNX Runtime with OpenVINO's plugin execution provider (``onnxruntime-ep-openvino``), when installed.

    This is the form a release could ship: it installs beside the pinned onnxruntime instead of replacing
    it. Three things it needs, found here: the graph without the optional ``logit_threshold`` input (an
    input that is also an initializer stops its compilation: "Input names mismatch between OpenVINO and
    ONNX"), a static input shape (with the dynamic one its calls were no faster than the CPU provider's),
    and the precision given through ``load_config`` (its own ``precision: FP32`` option still computed bf16
    on a CPU with native bf16).
    """
    try:
        import onnxruntime_ep_openvino as plugin
    except ImportError:
        return {}
    import onnx
    import onnxruntime as ort

    graph = onnx.load(str(model))
    kept = [i for i in graph.graph.input if i.name != THRESHOLD_NAME]
    del graph.graph.input[:]
    graph.graph.input.extend(kept)
    data = graph.SerializeToString()
    device = _plugin_cpu_device(plugin.get_library_path(), plugin.get_ep_name())
    shape = ",".join(str(side) for side in x.shape)
    calls = {}
    for precision in precisions:
        options = session_options(threads)
        config = {"CPU": {"INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": "LATENCY"}}
        options.add_provider_for_devices([device], {"reshape_input": f"{INPUT_NAME}[{shape}]",
                                                    "num_of_threads": str(threads), "load_config": json.dumps(config)})
        session = ort.InferenceSession(data, options)
        calls[f"ort_openvino_ep_{precision}"] = (lambda s: lambda batch: s.run(None, {INPUT_NAME: batch}))(session)
    return calls


def runtimes(model: Path, x: np.ndarray, threads: int) -> dict[str, Call]:
    """Every runtime variant compared, ONNX Runtime's CPU provider (the reference) first.

    OpenVINO in f32 always; in bf16 where the CPU has it natively; and the same through ONNX Runtime's
    OpenVINO plugin provider when that is installed.
    """
    import onnxruntime as ort

    openvino = _openvino()
    session = ort.InferenceSession(str(model), session_options(threads), providers=["CPUExecutionProvider"])
    precisions = ["f32", "bf16"] if native_bf16(openvino.Core()) else ["f32"]
    calls: dict[str, Call] = {"onnxruntime": lambda batch: session.run(None, {INPUT_NAME: batch})}
    for precision in precisions:
        calls[f"openvino_{precision}"] = _openvino_call(openvino, model, x, threads, precision)
    calls.update(_plugin_ep_calls(model, x, threads, precisions))
    return calls


def compare_tile(model: Path, calls: dict[str, Call], x: np.ndarray, threads: int, rounds: int) -> dict:
    """All runtimes on one tile ``x``: output differences, then ``rounds`` interleaved calls of each.

    Returns:
        ``variants``: per runtime, seconds per call (min / median wall, median CPU); for each variant other
        than ONNX Runtime also its largest output differences from it and its speed-up over it.
    """
    outputs = {side: call(x) for side, call in calls.items()}
    seconds: dict[str, list[tuple[float, float]]] = {side: [] for side in calls}
    for _ in range(rounds):
        for side, call in calls.items():
            seconds[side].append(_timed(lambda call=call: call(x)))
    reference = _summary(seconds["onnxruntime"])
    variants: dict[str, dict] = {"onnxruntime": reference}
    for side in list(calls)[1:]:
        mine = _summary(seconds[side])
        variants[side] = {**mine, "max_abs_difference": [float(np.abs(a - b).max()) for a, b in
                                                         zip(outputs["onnxruntime"], outputs[side])],
                          "speedup_wall": {"min": round(reference["wall_min"] / mine["wall_min"], 3),
                                           "median": round(reference["wall_median"] / mine["wall_median"], 3)},
                          "speedup_cpu_median": round(reference["cpu_median"] / mine["cpu_median"], 3)}
    return {"tile": int(x.shape[-1]), "variants": variants, "start_up": _start_up(_openvino(), model, x, threads)}


def label_effect(calls: dict[str, Call], card: dict, tile: int, seed: int = 1) -> dict:
    """What each variant changes in the rice map: a synthetic Mekong scene of 2 x 2 tiles, tile by tile.

    Args:
        calls: the runtimes of :func:`runtimes`, made for ``tile``-sized input.

    Returns:
        The scene, the card's threshold, F1 against the scene's truth per runtime, and per variant the share
        of pixels whose rice / other label differs from ONNX Runtime's and the change of the rice share.
    """
    cube, truth = synthetic_scene(card, "mekong", 2 * tile, seed)
    threshold = card_threshold(card)
    parts = crops(cube.astype(np.float32), tile)
    truths = np.concatenate(crops(truth, tile))
    probability = {side: np.concatenate([call(np.ascontiguousarray(p))[0][:, 0] for p in parts])
                   for side, call in calls.items()}
    rice = {side: values >= threshold for side, values in probability.items()}
    result = {"scene": f"synthetic mekong {2 * tile}², seed {seed}, {len(parts)} tiles of {tile}²",
              "threshold": threshold, "f1": {}, "labels_changed": {}, "rice_share_change": {}}
    for side, labels in rice.items():
        result["f1"][side] = round(f1_score(probability[side], truths, threshold), 5)
        if side != "onnxruntime":
            result["labels_changed"][side] = float(np.mean(labels != rice["onnxruntime"]))
            result["rice_share_change"][side] = float(labels.mean() - rice["onnxruntime"].mean())
    return result


def measure(model: Path, card: dict, tiles: list[int], threads: int, rounds: int) -> dict:
    """:func:`compare_tile` for each tile size, and :func:`label_effect` with the first size's runtimes."""
    records, labels = [], {}
    for tile in tiles:
        x = _tile_input(card, tile)
        calls = runtimes(model, x, threads)
        records.append(compare_tile(model, calls, x, threads, rounds))
        if not labels:
            labels = label_effect(calls, card, tile)
    return {"tiles": records, "labels": labels}


def _summary(values: list[tuple[float, float]]) -> dict:
    wall = [w for w, _ in values]
    cpu = [c for _, c in values]
    return {"wall_min": round(min(wall), 4), "wall_median": round(float(np.median(wall)), 4),
            "cpu_median": round(float(np.median(cpu)), 4)}


def _machine() -> dict:
    import onnxruntime

    openvino = _openvino()
    try:
        plugin: str | None = version("onnxruntime-ep-openvino")
    except PackageNotFoundError:  # not installed: the plugin provider's variants are left out
        plugin = None
    return {**cpu_record(), "cores": os.cpu_count(), "onnxruntime": onnxruntime.__version__,
            "openvino": openvino.__version__, "openvino_native_bf16": native_bf16(openvino.Core()),
            "onnxruntime_ep_openvino": plugin}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model name or folder (default: the default model)")
    parser.add_argument("--tiles", type=int, nargs="+", default=[272, 512], help="tile sizes (default 272 512)")
    parser.add_argument("--threads", type=int, default=2, help="threads of both runtimes (default 2)")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved calls per runtime (default 10)")
    parser.add_argument("--out", required=True, help="result JSON to write")
    args = parser.parse_args(argv)
    try:
        folder = resolve(args.model or default_model_name())
        card = load_card(folder)  # checksums verified, like map's
        model = confined_file(folder, ONNX_FILE)
        result = {"command": "python -m backend.experiments.openvino_check " + " ".join(argv or sys.argv[1:]),
                  "machine": _machine(), "model": card["name"], "threads": args.threads,
                  "load_average_before": list(os.getloadavg()),
                  **measure(model, card, args.tiles, args.threads, args.rounds),
                  "load_average_after": list(os.getloadavg())}
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
