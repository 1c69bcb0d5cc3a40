"""OpenVINO's CPU runtime on a model's ONNX file: ``--engine openvino`` (issue 15, an optional extra).

OpenVINO reads the same verified ``model.onnx`` that ONNX Runtime runs and gives the same probabilities
(within 1.1e-6 on the default model) and heat maps (within 3e-4). It pays where its CPU kernels beat ONNX
Runtime's: 1.3 x per call on an Intel Xeon with AVX-512 and AMX, 1.0-1.1 x on an AVX2 AMD Zen 3
(docs/mapping.md, "Issue 15, sixth pass"; graphs before session 12). Against ONNX Runtime's shape-fixed
sessions and the blocked-layout gates of session 13 it was slower in f32 on an AVX-512 AMD Zen 4 (a whole
`map` 0.91-0.95 x) and faster only in bf16 (1.07-1.30 x; "Issue 15, eleventh pass"), so it is never chosen
by ``auto``.

Three things make it match the ONNX Runtime engine, all measured in ``backend.experiments.openvino_check``:

* **f32 is requested** unless ``--precision bf16`` asks otherwise. OpenVINO's own default is bf16 on CPUs
  with native bf16, which was 1.9-2.1 x faster per call there and changed 0.03 % of a synthetic scene's
  labels; bf16 is refused on CPUs without it (emulated, it would be slower, not faster).
* **The heat-map threshold stays an input.** The graph's ``logit_threshold`` is an input with a default
  (an initializer of the same name), which OpenVINO's ONNX reader folds into a constant; it is turned back
  into a parameter here, without the ``onnx`` package (not in the lean environment).
* **One compiled model per input shape.** With a static shape OpenVINO was 1.3 x ONNX Runtime's speed,
  with the dynamic one no faster. A run sees one or two shapes (full batches, a last smaller batch); each
  compiles once, and compiled models are cached on disk (``CACHE_DIR``) across runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from backend.errors import UserError
from backend.modelstore.card import CARD_METADATA_KEY
from backend.modelstore.onnx_io import HEATMAP_NAME, INPUT_NAME, OUTPUT_NAME, THRESHOLD_NAME, check_card_matches
from backend.tiles.engines import BF16, GRAPH_CAM, PRECISION, Engine, logit

DEVICE = "CPU"


def compile_config(threads: int, precision: str = PRECISION) -> dict[str, str]:
    """OpenVINO CPU settings: latency (one request at a time, as ``map`` calls), the precision, the threads."""
    return {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": precision,
            "INFERENCE_NUM_THREADS": str(int(threads))}


def native_bf16(core: Any) -> bool:
    """Whether OpenVINO's CPU plugin computes bf16 natively here (BF16 among its capabilities)."""
    return "BF16" in core.get_property(DEVICE, "OPTIMIZATION_CAPABILITIES")


def _check_bf16(core: Any) -> None:
    if not native_bf16(core):
        raise UserError(f"{{param:precision}} {BF16}: this CPU does not compute bfloat16 natively (no AMX or "
                        "AVX512-BF16 in OpenVINO's CPU capabilities), so bf16 would be emulated and slower; use "
                        f"{{param:precision}} {PRECISION}", param="precision")


def threshold_as_input(openvino: Any, network: Any) -> bool:
    """Make ``logit_threshold`` a parameter of ``network`` again where the ONNX reader folded it to a constant.

    Args:
        openvino: the imported ``openvino`` module.
        network: an ``openvino.Model`` read from one of our ONNX files (changed in place).

    Returns:
        Whether the network takes the threshold as an input (False for graphs without a heat map).
    """
    if THRESHOLD_NAME in _input_names(network):
        return True
    folded = [op for op in network.get_ops()
              if op.get_type_name() == "Constant" and THRESHOLD_NAME in op.output(0).get_names()]
    if not folded:
        return False
    from openvino import opset13  # lazy: optional extra

    parameter = opset13.parameter([], openvino.Type.f32, name=THRESHOLD_NAME)
    constant = folded[0].output(0)
    constant.set_names(set())
    parameter.output(0).set_names({THRESHOLD_NAME})
    for target in list(constant.get_target_inputs()):
        target.replace_source_output(parameter.output(0))
    network.add_parameters([parameter])
    return True


def openvino_engine(onnx_path: Path, card: dict, threads: int, cache_dir: Path | None = None,
                    precision: str = PRECISION) -> Engine:
    """OpenVINO CPU engine on ``onnx_path`` (a verified model file), computing in ``precision``.

    Args:
        onnx_path: the model's ``model.onnx``, already checked (checksum, no external data).
        card: its verified card, which must match the card embedded in the file.
        threads: inference threads (recorded in run.json).
        cache_dir: where OpenVINO keeps compiled models between runs; None for no cache.
        precision: ``f32`` (default: ONNX Runtime's results) or ``bf16`` (CPUs with native bf16 only).

    Returns:
        The engine; it has a heat map when the graph has the heat-map output and its threshold input.

    Raises:
        UserError: the file's embedded card is missing or does not match ``card``, or bf16 is asked for on a
            CPU without native bf16.
    """
    import openvino  # lazy: optional extra

    core = openvino.Core()
    if precision == BF16:
        _check_bf16(core)
    if cache_dir is not None:
        core.set_property({"CACHE_DIR": str(cache_dir)})
    network = core.read_model(str(onnx_path))
    check_card_matches(embedded_card(network), card, onnx_path)
    with_threshold = threshold_as_input(openvino, network)
    with_heatmap = with_threshold and HEATMAP_NAME in _output_names(network)
    graphs = {True: network, False: _probability_only(openvino, network)}  # by: with the heat map
    compiled: dict[tuple, tuple[Any, Any, bool]] = {}

    def request(shape: tuple[int, ...], heat: bool) -> tuple[Any, Any, bool]:
        if (shape, heat) not in compiled:
            static = graphs[heat].clone()
            takes_threshold = THRESHOLD_NAME in _input_names(static)
            static.reshape({INPUT_NAME: list(shape), **({THRESHOLD_NAME: []} if takes_threshold else {})})
            model = core.compile_model(static, DEVICE, compile_config(threads, precision))
            compiled[shape, heat] = (model, model.create_infer_request(), takes_threshold)
        return compiled[shape, heat]

    def run(batch: np.ndarray, threshold: float, heat: bool) -> list[np.ndarray]:
        batch = np.ascontiguousarray(batch, np.float32)
        model, infer, takes_threshold = request(tuple(batch.shape), heat)
        feeds = {INPUT_NAME: batch}
        if takes_threshold:
            feeds[THRESHOLD_NAME] = np.array(logit(threshold), np.float32)
        answer = infer.infer(feeds)  # outputs copied out of the request (share_outputs=False)
        names = (OUTPUT_NAME, HEATMAP_NAME) if heat else (OUTPUT_NAME,)
        return [answer[model.output(name)][:, 0] for name in names]

    def predict(batch: np.ndarray) -> np.ndarray:
        return run(batch, 0.5, False)[0]

    def predict_with_heatmap(batch: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        probability, heat = run(batch, threshold, True)
        return probability, heat

    info = {"heatmap": GRAPH_CAM if with_heatmap else None}  # OpenVINO's version: run.json's "versions"
    return Engine("openvino", "cpu", threads, predict, predict_with_heatmap if with_heatmap else None, info,
                  precision)


def embedded_card(network: Any) -> str | None:
    """The card JSON the ONNX file carries in its metadata (OpenVINO keeps it under ``framework``)."""
    path = ["framework", CARD_METADATA_KEY]
    return str(network.get_rt_info(path).astype(str)) if network.has_rt_info(path) else None


def _input_names(network: Any) -> set[str]:
    return {name for port in network.inputs for name in port.get_names()}


def _output_names(network: Any) -> set[str]:
    return {name for port in network.outputs for name in port.get_names()}


def _probability_only(openvino: Any, network: Any) -> Any:
    """The network without its heat-map output, so ``--no-heatmap`` runs do not compute it.

    Its one parameter is ``x``: the threshold only feeds the heat map. A graph whose probability needs more
    is kept whole.
    """
    inputs = [p for p in network.get_parameters() if INPUT_NAME in p.output(0).get_names()]
    try:
        return openvino.Model([network.output(OUTPUT_NAME)], inputs, OUTPUT_NAME)
    except RuntimeError:  # the probability depends on another parameter
        return network
