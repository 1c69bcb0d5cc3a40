"""OpenVINO against ONNX Runtime on the default model: is a second CPU runtime worth shipping? (issue 15)

The issue asks to try the execution providers that exist for CPU inference and keep what wins. OpenVINO's
own runtime reads our ONNX file directly, so this compares one model call per tile in the same process,
interleaved round by round: ONNX Runtime with the backend's own session options
(:func:`backend.modelstore.onnx_io.session_options`) and OpenVINO's CPU plugin with a static input shape,
the latency hint and the same number of threads. It also measures what OpenVINO would add to every
``map`` run before its first tile (import, compilation with an empty and with a filled model cache, the
first call's warm-up), because a run of a few tiles pays those once.

OpenVINO is not a project dependency (a 59 MB wheel, 180 MB installed). Run it with the package put
beside the backend's environment, not into it::

    .venv/bin/pip install --no-deps --target /tmp/ovpkgs openvino==2026.4.1 openvino-telemetry
    PYTHONPATH=/tmp/ovpkgs .venv/bin/python -m backend.experiments.openvino_check --out result.json

Results and the decision are in docs/mapping.md ("Issue 15, fifth pass").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from backend.errors import UserError
from backend.experiments.bench import cpu_record
from backend.inference.loader import default_model_name
from backend.modelstore.card import load_card
from backend.modelstore.onnx_io import ONNX_FILE, session_options
from backend.modelstore.paths import confined_file, resolve

INSTALL_HINT = ("install OpenVINO beside the backend's environment: .venv/bin/pip install --no-deps --target "
                "/tmp/ovpkgs openvino==2026.4.1 openvino-telemetry, then run with PYTHONPATH=/tmp/ovpkgs")


def _openvino() -> Any:
    try:
        import openvino
    except ImportError as exc:
        raise UserError(f"OpenVINO is not installed ({exc}); {INSTALL_HINT}") from exc
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


def _compiled(openvino: Any, model: Path, x: np.ndarray, threads: int, cache: str | None) -> tuple[Any, float]:
    core = openvino.Core()
    if cache:
        core.set_property({"CACHE_DIR": cache})
    start = time.perf_counter()
    network = core.read_model(str(model))
    network.reshape({network.inputs[0].get_any_name(): list(x.shape)})
    compiled = core.compile_model(network, "CPU", {"PERFORMANCE_HINT": "LATENCY",
                                                  "INFERENCE_NUM_THREADS": str(threads)})
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


def compare_tile(model: Path, card: dict, tile: int, threads: int, rounds: int) -> dict:
    """Both runtimes on one tile size: equal outputs, then ``rounds`` interleaved calls each."""
    import onnxruntime as ort

    openvino = _openvino()
    x = _tile_input(card, tile)
    session = ort.InferenceSession(str(model), session_options(threads), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    compiled, _ = _compiled(openvino, model, x, threads, None)
    request = compiled.create_infer_request()

    def openvino_call() -> list[np.ndarray]:
        answer = request.infer({0: x})
        return [answer[out] for out in compiled.outputs]

    calls = {"onnxruntime": lambda: session.run(None, {name: x}), "openvino": openvino_call}
    outputs = {side: call() for side, call in calls.items()}
    differences = [float(np.abs(a - b).max()) for a, b in zip(outputs["onnxruntime"], outputs["openvino"])]
    seconds: dict[str, list[tuple[float, float]]] = {side: [] for side in calls}
    for _ in range(rounds):
        for side, call in calls.items():
            seconds[side].append(_timed(call))
    sides = {side: _summary(values) for side, values in seconds.items()}
    return {"tile": tile, "max_abs_difference": differences, **sides,
            "speedup_wall": {"min": round(sides["onnxruntime"]["wall_min"] / sides["openvino"]["wall_min"], 3),
                             "median": round(sides["onnxruntime"]["wall_median"] /
                                             sides["openvino"]["wall_median"], 3)},
            "speedup_cpu_median": round(sides["onnxruntime"]["cpu_median"] / sides["openvino"]["cpu_median"], 3),
            "start_up": _start_up(openvino, model, x, threads)}


def _summary(values: list[tuple[float, float]]) -> dict:
    wall = [w for w, _ in values]
    cpu = [c for _, c in values]
    return {"wall_min": round(min(wall), 4), "wall_median": round(float(np.median(wall)), 4),
            "cpu_median": round(float(np.median(cpu)), 4)}


def _machine() -> dict:
    import onnxruntime

    return {**cpu_record(), "cores": os.cpu_count(), "onnxruntime": onnxruntime.__version__,
            "openvino": _openvino().__version__}


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
                  "tiles": [compare_tile(model, card, tile, args.threads, args.rounds) for tile in args.tiles],
                  "load_average_after": list(os.getloadavg())}
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
