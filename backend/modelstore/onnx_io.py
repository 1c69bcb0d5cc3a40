"""ONNX side of the model store: embed the card, open a verified ONNX Runtime session."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from backend.errors import UserError
from backend.modelstore.card import CARD_METADATA_KEY, PRODUCER, contract, load_card
from backend.modelstore.paths import confined_file, resolve

ONNX_FILE = "model.onnx"
SPINNING_STOP = "session.force_spinning_stop"  # ONNX Runtime session config: idle threads after a call
INPUT_NAME = "x"
OUTPUT_NAME = "probability"
HEATMAP_NAME = "heatmap"
THRESHOLD_NAME = "logit_threshold"
_EXTERNAL_DATA_KEY = b"location"  # the key of a tensor's external_data entry naming its file


def embed_card(onnx_path: Path, card: dict) -> None:
    """Set the producer name and store the card as JSON in the model's ``metadata_props``."""
    import onnx

    model = onnx.load(str(onnx_path))
    model.producer_name = PRODUCER
    kept = [p for p in model.metadata_props if p.key != CARD_METADATA_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    entry = model.metadata_props.add()
    entry.key, entry.value = CARD_METADATA_KEY, json.dumps(card, sort_keys=True)
    onnx.save(model, str(onnx_path))


def give_input_default(onnx_path: Path, name: str, value: float) -> None:
    """Make graph input ``name`` optional: an initializer of the same name holds its default ``value``.

    ONNX Runtime then feeds the default when a caller (another tool, an older engine) passes only ``x``.
    """
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(onnx_path))
    if name not in {i.name for i in model.graph.input}:
        raise ValueError(f"{onnx_path} has no input {name!r}")
    kept = [t for t in model.graph.initializer if t.name != name]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept + [numpy_helper.from_array(np.array(value, np.float32), name)])
    onnx.save(model, str(onnx_path))


def physical_cores() -> int:
    """Physical cores available to this process (hyper-threads share execution units, so ORT prefers these)."""
    try:
        cpus = os.sched_getaffinity(0)
    except AttributeError:
        cpus = set(range(os.cpu_count() or 1))
    cores = set()
    for cpu in cpus:
        topo = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            cores.add(((topo / "physical_package_id").read_text().strip(), (topo / "core_id").read_text().strip()))
        except OSError:
            cores.add(("?", str(cpu)))
    return max(len(cores), 1)


def session_options(threads: int | None = None, fixed_dims: dict[str, int] | None = None) -> Any:
    """ONNX Runtime CPU options of every session the backend opens.

    Full graph optimization; intra-op threads default to the physical core count. The memory pattern (one
    block planned for all of a run's tensors) is off: with the arena on it saved no measurable time but
    held 1.5-1.8 x the activation memory (544 -> 359 MB resident at 256² tiles, 1268 -> 702 MB at 384²,
    docs/mapping.md), which is what lets the tile policy use larger tiles under the same memory. The
    intra-op threads stop spinning when a call returns (``session.force_spinning_stop``): between a run's
    model calls a spinning worker took a core from the reading and compositing of the next tile (0.7 CPU s
    more in reads on a 1024² scene, the threaded reads 0.2-0.4 s slower, the calls themselves no faster;
    ``python -m backend.experiments.read_check``). Spinning within a call stays on.

    Args:
        threads: intra-op threads; None or 0 for the physical cores.
        fixed_dims: values for the graph's symbolic dimensions (:func:`shape_dims`), so that it is
            optimized for one input shape; None leaves them free.

    Returns:
        An ``onnxruntime.SessionOptions``.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = int(threads) if threads else physical_cores()
    options.enable_mem_pattern = False
    options.add_session_config_entry(SPINNING_STOP, "1")
    for name, value in (fixed_dims or {}).items():
        options.add_free_dimension_override_by_name(name, int(value))
    return options


def shape_dims(session: Any, shape: tuple[int, ...]) -> dict[str, int]:
    """The symbolic dimensions of a session's input ``x`` with the values they take for ``shape``.

    A session whose graph knows every shape runs faster: ONNX Runtime then folds the time-folding reshapes
    into constants and fuses more additions into its blocked-layout convolutions (the default model: 7 %
    less time per 272² tile on two threads, docs/mapping.md), and the squeeze-excitation gates' resize
    scales (:func:`backend.nets.blocks.gate_channels`) become constants only when the batch is fixed too.

    Args:
        session: a session opened without fixed dimensions.
        shape: the input shape ``(B, T, C, H, W)`` to fix.

    Returns:
        Dimension name to value, for :func:`open_onnx`'s ``fixed_dims``.
    """
    declared = next(i for i in session.get_inputs() if i.name == INPUT_NAME).shape
    return {dim: int(size) for dim, size in zip(declared, shape) if isinstance(dim, str)}


def check_embedded_card(session: Any, card: dict, path: Path) -> None:
    """An ONNX Runtime session's producer and embedded card must be ours and match ``card``.

    Raises:
        UserError: another producer, no embedded card, or a card that does not belong with the file.
    """
    meta = session.get_modelmeta()
    if meta.producer_name != PRODUCER:
        raise UserError(f"{path} was produced by {meta.producer_name or 'an unknown tool'!r}, not by "
                        f"{PRODUCER}; only models saved by S1 Rice Mapper can be opened (re-save it)")
    check_card_matches(meta.custom_metadata_map.get(CARD_METADATA_KEY), card, path)


def check_card_matches(embedded: str | None, card: dict, path: Path) -> None:
    """The card JSON embedded in ``path`` (None: none) must have the same contract fields as ``card``.

    Raises:
        UserError: no embedded card, or one whose architecture, inputs or name differ.
    """
    if embedded is None:
        raise UserError(f"{path} carries no embedded model card; re-save the model with S1 Rice Mapper")
    try:
        same = contract(json.loads(embedded)) == contract(card)
    except json.JSONDecodeError:
        same = False
    if not same:
        raise UserError(f"the card embedded in {path} does not match {path.parent / 'card.json'} "
                        "(architecture, inputs or name differ); the files do not belong together, re-save "
                        "the model")


def open_onnx(name_or_path: str | os.PathLike, threads: int | None = None,
              optimized_cache: Path | None = None, fixed_dims: dict[str, int] | None = None) -> tuple[Any, dict]:
    """Verified ONNX Runtime session (input ``x``, output ``probability``) and the model's card.

    Full graph optimization, no memory pattern; intra-op threads default to the physical core count.
    ``optimized_cache`` is a file where the optimized graph is kept and reused while the model file's
    checksum is unchanged. ``fixed_dims`` gives symbolic dimensions (``batch``, ``height``, ``width``) fixed
    values: the graph is then optimized for that one input shape (see :func:`shape_dims`).
    """
    import onnxruntime as ort

    folder = resolve(name_or_path)
    card = load_card(folder, verify=True)
    path = checked_onnx_file(folder, card)
    options = session_options(threads, fixed_dims)
    source = str(path)
    if optimized_cache is not None:
        source = _use_optimized_cache(Path(optimized_cache), card, options, source)
    try:
        session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for unreadable graphs
        if optimized_cache is None:
            raise UserError(f"ONNX Runtime cannot load {path}: {exc}; re-save the model") from exc
        # the cache is only a shortcut: an unreadable one, or one that could not be written (a full disk),
        # is dropped and the model opened from its own file
        _drop_optimized_cache(Path(optimized_cache))
        return open_onnx(folder, threads, None, fixed_dims)
    check_embedded_card(session, card, path)
    return session, card


def checked_onnx_file(folder: Path, card: dict) -> Path:
    """The model folder's ``model.onnx``, confined to the folder and holding no external-data reference.

    The card was verified (checksums) by the caller; every runtime that reads the file goes through this.

    Args:
        folder: the model folder.
        card: its verified card.

    Returns:
        The path of ``model.onnx``.

    Raises:
        UserError: the model has no ONNX file (a rule-based baseline), or the file references other files.
    """
    path = confined_file(folder, ONNX_FILE)
    if ONNX_FILE not in card["files"]:
        raise UserError(f"model {card['name']!r} ({card['arch']}) has no {ONNX_FILE}: it is a rule-based "
                        "baseline that `map` runs without ONNX Runtime; use it with `map --model` (default "
                        "engine), or choose a network model for this")
    refuse_external_data(path)
    return path


def refuse_external_data(path: Path) -> None:
    """Refuse an ONNX file whose tensors live in other files: their locations could point anywhere.

    Models written by S1 Rice Mapper keep every weight inside ``model.onnx``, so any external-data
    reference means the file was made elsewhere; ONNX Runtime would otherwise read the named file.

    A tensor's external data is found through its ``location`` entry, a plain string in the protobuf, so a
    file without the bytes ``location`` references no other file: it is accepted without parsing, which
    spares ``map`` the ``onnx`` package's import (about 1.3 s here). Otherwise the graph is parsed.

    Args:
        path: The model's ``model.onnx`` (already confined to its folder).

    Raises:
        UserError: The graph cannot be parsed or references external data.
    """
    if _EXTERNAL_DATA_KEY not in path.read_bytes():
        return
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError and friends
        raise UserError(f"{path} is not a readable ONNX model ({exc}); re-save the model") from exc
    tensors = list(model.graph.initializer)
    tensors += [a.t for n in model.graph.node for a in n.attribute if a.HasField("t")]
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in tensors):
        raise UserError(f"{path} stores weights in external files, which S1 Rice Mapper models never do; "
                        "refusing to load it: reinstall the model from a trusted source or re-save it")


def _cache_stamp(cache: Path) -> Path:
    """The file beside an optimized-graph cache holding the checksum of the model it was made from."""
    return cache.with_name(cache.name + ".sha256")


def _drop_optimized_cache(cache: Path) -> None:
    for stale in (cache, _cache_stamp(cache)):
        try:
            stale.unlink(missing_ok=True)
        except OSError:
            pass


def _use_optimized_cache(cache: Path, card: dict, options: Any, source: str) -> str:
    stamp = _cache_stamp(cache)
    wanted = card["files"][ONNX_FILE]["sha256"]
    if cache.is_file() and stamp.is_file() and stamp.read_text().strip() == wanted:
        return str(cache)
    cache.parent.mkdir(parents=True, exist_ok=True)
    options.optimized_model_filepath = str(cache)
    stamp.write_text(wanted + "\n")
    return source
