"""Wall time per stage of one ``map`` run, for ``run.json``'s ``timings``.

The product measures its own time outside the model (issue 15's target: at most 10 % of a run), so a
benchmark or a user reads it from ``run.json`` instead of profiling. Stages, in the order they run:

* ``startup``: from the process's start (interpreter, imports, argument parsing) to the verb's work;
* ``load``: the model's card, checksum and ONNX Runtime session;
* ``open``: the input series opened and checked (dates, grids, units from a sample);
* ``season``: the season window(s) chosen (and detected when none is given) and the plausibility checks;
* ``read_composite``: the tiles' input read and composited onto the model's steps;
* ``model``: the model calls (probabilities and heat map);
* ``blend_write``: tiles blended, thresholded and written strip by strip;
* ``finish``: the last rows, overviews, and the outputs read back;
* ``checks``: the result checks and ``run.json``.

``total`` is the process's age when ``run.json`` is written (the sum of the stages when the age is not
known, e.g. outside Linux or for a manifest row); ``other`` is what no stage covers. ``peak_rss_mb`` is the
process's peak resident memory when each stage ended (Linux), which shows the stage that set the peak.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

STAGES = ("startup", "load", "open", "season", "read_composite", "model", "blend_write", "finish", "checks")


def peak_rss_mb(pid: int | str = "self") -> float | None:
    """Peak resident memory so far (``VmHWM``) of process ``pid`` (default this one) in MB.

    Returns:
        The peak, or None where ``/proc`` is missing or the process has exited.
    """
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def process_age() -> float | None:
    """Seconds since this process started (Linux ``/proc``, 10 ms resolution); None where unknown."""
    try:
        after_name = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        start_ticks = int(after_name[19])  # field 22 of stat(5); the fields after the name start at field 3
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return max(uptime - start_ticks / os.sysconf("SC_CLK_TCK"), 0.0)


class StageTimes:
    """Seconds per stage, summed over repeated entries of a stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.peaks: dict[str, float | None] = {}

    def add(self, name: str, seconds: float) -> None:
        """Count ``seconds`` more for stage ``name`` (one of :data:`STAGES`); note the peak memory so far."""
        if name not in STAGES:
            raise ValueError(f"unknown stage {name!r}; expected one of {', '.join(STAGES)}")
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds
        peak = peak_rss_mb()
        self.peaks[name] = None if peak is None else round(peak, 1)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the ``with`` block as stage ``name``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)

    def record(self, total: float | None = None) -> dict:
        """``run.json``'s ``timings``: every stage (0 when it did not run), ``other``, ``total`` and shares.

        Args:
            total: the run's wall time; the sum of the stages when None.

        Returns:
            Seconds rounded to the millisecond, plus ``outside_model`` (total minus model) and
            ``outside_model_share`` (its share of the total).
        """
        stages = {name: self.seconds.get(name, 0.0) for name in STAGES}
        counted = sum(stages.values())
        total = max(total if total is not None else counted, counted)
        outside = total - stages["model"]
        record = {name: round(value, 3) for name, value in stages.items()}
        record.update(other=round(total - counted, 3), total=round(total, 3), outside_model=round(outside, 3),
                      outside_model_share=round(outside / total, 4) if total > 0 else None,
                      peak_rss_mb={name: self.peaks[name] for name in STAGES if name in self.peaks})
        return record
