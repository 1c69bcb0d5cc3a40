"""Would exporting SimTA's encoder with the dates as channel groups remove its layout reorders? (issue 15)

Today's export folds the dates into the batch (``(T, C, H, W)``), so before each collapse convolution
(``T*C`` channels into ``C``) ONNX Runtime leaves its blocked layout, reshapes, and enters it again: the
"time-folding" reorders, about 1.7 % of a call's kernel time at full resolution and 0.7 % at the second
level (docs/mapping.md, eleventh pass). With the dates as channel groups (``(1, T*C, H, W)``, every
convolution grouped by date with its weights repeated) no reshape is needed between the convolutions.

This check builds the default model's full-resolution chain in four forms with random weights (the
layout does not depend on them) and times and profiles each as ``map`` runs its graphs (shape-fixed
sessions, full optimization):

* ``dates_in_batch``: today's form: input ``(1, T, 2, H, W)`` folded to ``(T, 2, H, W)``, two 3x3
  convolutions to the packed ``2C`` channels, a 1x1 projection to ``C`` (where the first fusion
  projects), reshaped to ``(1, T*C, H, W)`` for the collapse 1x1 convolution to ``C``;
* ``dates_as_groups``: the input reshaped to ``(1, 2T, H, W)``, the same convolutions grouped by date;
* ``dates_sliced``: the first convolution run on each date's slice (ONNX Runtime runs a 2-channel
  convolution from the plain layout into the blocked one only without groups), concatenated, then grouped;
* ``dates_as_groups_padded``: as ``dates_as_groups``, but the projection writes ``2C`` channels per date
  (``C`` of them zero, read with zero weights by the collapse): a grouped convolution stays in the blocked
  layout only with a whole block of channels per group (16 on AVX-512), which ``C`` = 8 is not.

Run: ``python -m backend.experiments.grouped_dates_check --out result.json`` (about a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from backend.experiments.inference_bench import (
    REORDER_OPS,
    cpu_session,
    kernel_breakdown,
    profile_events,
    shape_options,
)
from backend.modelstore import BUNDLED_DIR, load_card

FORMS = ("dates_in_batch", "dates_as_groups", "dates_sliced", "dates_as_groups_padded")
#: Operators that only move a full map's bytes: the layout reorders and the blocked Concat.
COPY_OPS = (*REORDER_OPS, "Concat", "Reshape")


def default_dimensions() -> tuple[int, int]:
    """Dates and first-level channels per branch of the default bundled model (``simta-feature-cga``)."""
    kwargs = load_card(BUNDLED_DIR / "simta-feature-cga")["arch_kwargs"]
    return int(kwargs["steps"]), int(kwargs["width"])


def _chains(steps: int, width: int) -> dict[str, Any]:
    """The forms as torch modules sharing one set of random weights."""
    import torch  # lazy: torch
    from torch import nn

    torch.manual_seed(0)
    packed = 2 * width

    def by_date(conv: nn.Conv2d) -> nn.Conv2d:
        grouped = nn.Conv2d(conv.in_channels * steps, conv.out_channels * steps, conv.kernel_size,
                            padding=conv.padding, groups=steps)
        with torch.no_grad():
            grouped.weight.copy_(conv.weight.repeat(steps, 1, 1, 1))
            grouped.bias.copy_(conv.bias.repeat(steps))
        return grouped

    class Chain(nn.Module):
        """Two 3x3 convolutions, a projection and the collapse, in the form named ``form``."""

        def __init__(self, form: str) -> None:
            super().__init__()
            self.form = form
            self.first, self.second = nn.Conv2d(2, packed, 3, padding=1), nn.Conv2d(packed, packed, 3, padding=1)
            self.project, self.collapse = nn.Conv2d(packed, width, 1), nn.Conv2d(steps * width, width, 1)
            self.grouped_first, self.grouped_second = by_date(self.first), by_date(self.second)
            self.grouped_project = by_date(self.project)
            self.padded_project = by_date(nn.Conv2d(packed, packed, 1))
            self.padded_collapse = nn.Conv2d(steps * packed, width, 1)

        @torch.no_grad()
        def pad_projection(self) -> None:
            """The padded projection and collapse: the real ones with zero channels after each date's ``C``."""
            weight = torch.zeros(packed, packed, 1, 1)
            weight[:width] = self.project.weight
            bias = torch.zeros(packed)
            bias[:width] = self.project.bias
            self.padded_project.weight.copy_(weight.repeat(steps, 1, 1, 1))
            self.padded_project.bias.copy_(bias.repeat(steps))
            collapse = torch.zeros(width, steps, packed, 1, 1)
            collapse[:, :, :width] = self.collapse.weight.view(width, steps, width, 1, 1)
            self.padded_collapse.weight.copy_(collapse.view(width, steps * packed, 1, 1))
            self.padded_collapse.bias.copy_(self.collapse.bias)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            _, t, c, h, w = x.shape
            if self.form == "dates_in_batch":
                y = torch.relu(self.second(torch.relu(self.first(x.reshape(t, c, h, w)))))
                return torch.relu(self.collapse(self.project(y).reshape(1, t * width, h, w)))
            if self.form == "dates_as_groups_padded":
                y = torch.relu(self.grouped_second(torch.relu(self.grouped_first(x.reshape(1, t * c, h, w)))))
                return torch.relu(self.padded_collapse(self.padded_project(y)))
            if self.form == "dates_as_groups":
                y = torch.relu(self.grouped_first(x.reshape(1, t * c, h, w)))
            else:
                y = torch.cat([torch.relu(self.first(x[:, date])) for date in range(t)], dim=1)
            return torch.relu(self.collapse(self.grouped_project(torch.relu(self.grouped_second(y)))))

    base = Chain(FORMS[0])
    chains = {}
    for form in FORMS:
        chains[form] = Chain(form)
        chains[form].load_state_dict(base.state_dict())
        chains[form].pad_projection()
    return chains


def export_forms(folder: Path, steps: int, width: int, tile: int) -> dict[str, Path]:
    """Each form exported to ``folder`` as an ONNX file with one input ``x`` of shape ``(1, steps, 2, tile, tile)``."""
    import torch  # lazy: torch

    from backend.modelstore.torch_io import OPSET  # lazy: torch (via backend.modelstore.torch_io)

    example = torch.zeros(1, steps, 2, tile, tile)
    paths = {}
    for form, module in _chains(steps, width).items():
        paths[form] = folder / f"{form}.onnx"
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter, as torch_io uses
            torch.onnx.export(module.eval(), (example,), str(paths[form]), dynamo=False, opset_version=OPSET,
                              input_names=["x"], output_names=["y"])
    return paths


def _sessions(paths: dict[str, Path], threads: int, shape: tuple[int, ...]) -> dict[str, Any]:
    import onnxruntime as ort

    return {form: ort.InferenceSession(str(path), shape_options(cpu_session(path, threads), threads, shape),
                                       providers=["CPUExecutionProvider"]) for form, path in paths.items()}


def timed_calls(paths: dict[str, Path], x: np.ndarray, threads: int, rounds: int) -> dict[str, dict[str, float]]:
    """Per-call seconds (min, median) of each form, the order rotating from round to round after two warm-ups."""
    sessions = _sessions(paths, threads, tuple(x.shape))
    forms = list(sessions)
    times: dict[str, list[float]] = {form: [] for form in forms}
    for number in range(rounds + 2):
        shift = number % len(forms)
        for form in forms[shift:] + forms[:shift]:
            start = time.perf_counter()
            sessions[form].run(None, {"x": x})
            if number >= 2:
                times[form].append(time.perf_counter() - start)
    return {form: {"min": min(values), "median": statistics.median(values)} for form, values in times.items()}


def largest_differences(paths: dict[str, Path], x: np.ndarray) -> dict[str, float]:
    """Largest difference of each form's output from ``dates_in_batch``'s (the forms compute one function)."""
    outputs = {form: session.run(None, {"x": x})[0] for form, session in _sessions(paths, 1, tuple(x.shape)).items()}
    return {form: float(np.abs(out - outputs["dates_in_batch"]).max()) for form, out in outputs.items()}


def profile(path: Path, x: np.ndarray, runs: int = 4) -> dict:
    """One-thread kernel breakdown of ``path`` and the milliseconds per call spent only moving maps."""
    events = profile_events(path, {"x": x}, threads=1, runs=runs)
    copies = sum(e["dur"] for e in events if e["args"].get("op_name") in COPY_OPS)
    return {**kernel_breakdown(events, runs), "copy_ms_per_call": round(copies / 1e3 / runs, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tile", type=int, default=272, help="tile side in pixels (default 272, map's at 1024²)")
    parser.add_argument("--rounds", type=int, default=12, help="timed rounds per thread count (default 12)")
    parser.add_argument("--out", required=True, help="result JSON to write")
    args = parser.parse_args(argv)
    if args.tile < 8 or args.rounds < 1:
        parser.error("--tile must be at least 8 and --rounds at least 1")
    steps, width = default_dimensions()
    x = np.random.default_rng(0).normal(0.0, 1.0, size=(1, steps, 2, args.tile, args.tile)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        paths = export_forms(Path(tmp), steps, width, args.tile)
        result = {"command": "python -m backend.experiments.grouped_dates_check " + " ".join(argv or sys.argv[1:]),
                  "tile": args.tile, "steps": steps, "packed_channels": 2 * width, "rounds": args.rounds,
                  "load_average": os.getloadavg()[0],
                  "largest_difference_from_dates_in_batch": largest_differences(paths, x),
                  "seconds_per_call": {f"{threads}_threads": timed_calls(paths, x, threads, args.rounds)
                                       for threads in (1, 2)},
                  "one_thread_profile": {form: profile(path, x) for form, path in paths.items()}}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
