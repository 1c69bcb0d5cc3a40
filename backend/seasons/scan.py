"""Find the rice cycles of a whole series: input checks, block-wise detection, the 'no cycle' message."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backend.errors import UserError
from backend.raster.threads import map_each, threads_allowed
from backend.seasons import detect
from backend.seasons.detect import Cycle, PixelEvents

BLOCK_ROWS = 256
SAMPLE_BLOCK = 32  # map's quick scan: blocks of the model's smallest input ...
SAMPLE_ROWS, SAMPLE_COLS = 3, 6  # ... on 3 rows of 6: 18 blocks, 96 image rows. On a row-striped GeoTIFF the
# cost is the rows decoded, on a tiled one the tiles touched; the choice of the main season is the same as
# with 36 blocks of 64 px on the bench scenes and An Giang (docs/seasons.md)


@dataclass
class Gap:
    """A stretch without acquisitions longer than :data:`~backend.seasons.detect.GAP_DAYS`."""

    after: dt.date
    before: dt.date

    @property
    def days(self) -> int:
        return (self.before - self.after).days

    def record(self) -> dict:
        return {"after": self.after.isoformat(), "before": self.before.isoformat(), "days": self.days}


@dataclass
class Detection:
    """What the scan found: the scene's cycles, optional per-pixel events, gaps and VH statistics."""

    series: tuple[dt.date, dt.date]
    n_dates: int
    cycles: list[Cycle]
    gaps: list[Gap]
    n_valid: int
    vh_stats: dict
    events: np.ndarray | None = None  # (K, H, W) ordinals when scanned in full
    valid: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    rice_share: dict[str, float] = field(default_factory=dict)  # cycle label -> the model's rice share

    @property
    def main(self) -> Cycle | None:
        """The main rice season: among complete cycles, the one with the largest share of pixels that flood
        and then grow (the most rice crops); latest on a tie.

        No model work: the model's rice share of each cycle's window (the previous rule) differed by only
        0.001-0.02 between the cycles of the bench scenes and An Giang, since a paddy looks like rice in any
        window near one of its crops, so it picked among near ties and cost ``map`` a model pass per cycle.
        """
        def key(c: Cycle) -> tuple:
            return c.complete, round(c.share, 3), c.flood

        return max(self.cycles, key=key) if self.cycles else None

    def record(self) -> dict:
        return {"series": [self.series[0].isoformat(), self.series[1].isoformat()], "n_dates": self.n_dates,
                "cycles": [c.record() for c in self.cycles],
                "main": self.main.record() if self.main else None,
                "gaps": [g.record() for g in self.gaps], "valid_pixels": self.n_valid,
                "model_rice_share": {k: round(v, 4) for k, v in self.rice_share.items()},
                "vh_statistics": self.vh_stats, "notes": list(self.notes)}


def series_dates(reader: Any) -> list[dt.date]:
    """VH acquisition dates (the detection runs on VH)."""
    if "VH" not in reader.pols:
        raise UserError("finding seasons needs the VH polarization (flooding and growth show in VH); add the "
                        "VH file(s) with {param:vh}", param="vh")
    return list(reader.dates["VH"])


def check_length(dates: list[dt.date]) -> None:
    """A series shorter than one crop cycle cannot show one: say how many days are needed.

    Raises:
        UserError: with the series' span and :data:`~backend.seasons.detect.MIN_SERIES_DAYS`.
    """
    span = (dates[-1] - dates[0]).days + 1 if dates else 0
    if len(dates) < 6 or span < detect.MIN_SERIES_DAYS:
        raise UserError(f"the series covers {span} days ({dates[0] if dates else '-'} to "
                        f"{dates[-1] if dates else '-'}, {len(dates)} acquisitions); finding rice seasons needs at "
                        f"least {detect.MIN_SERIES_DAYS} days (one crop cycle: flooding and ~90 days of growth) "
                        f"and 6 acquisitions: add {max(detect.MIN_SERIES_DAYS - span, 0)} more days of "
                        "acquisitions", param="vh")


def find_gaps(dates: list[dt.date]) -> list[Gap]:
    """Stretches without acquisitions longer than :data:`~backend.seasons.detect.GAP_DAYS`."""
    return [Gap(a, b) for a, b in zip(dates, dates[1:]) if (b - a).days > detect.GAP_DAYS]


def gap_notes(gaps: list[Gap], cycles: list[Cycle]) -> list[str]:
    """What each long gap does to the detection (a flooding in it shows late or not at all)."""
    notes = []
    for gap in gaps:
        hit = [c for c in cycles if gap.after - dt.timedelta(days=20) <= c.flood <= gap.before + dt.timedelta(days=20)]
        effect = (f"the flooding of cycle {hit[0].flood} lies next to it, so its transplanting dates are uncertain "
                  f"by up to {gap.days} days" if hit else
                  "a crop flooded inside it can be missed or dated to the first acquisition after it")
        notes.append(f"no acquisition for {gap.days} days ({gap.after} to {gap.before}, e.g. the Sentinel-1B loss "
                     f"of December 2021); {effect}")
    return notes


def blocks(height: int, width: int, full: bool) -> list[tuple[int, int, int, int]]:
    """(row, col, h, w) blocks: row strips of the whole grid, or a sparse grid of equal samples."""
    if full:
        return [(r, 0, min(BLOCK_ROWS, height - r), width) for r in range(0, height, BLOCK_ROWS)]
    bh, bw = min(SAMPLE_BLOCK, height), min(SAMPLE_BLOCK, width)
    rows = np.unique(np.linspace(0, height - bh, min(SAMPLE_ROWS, max(1, height // bh))).astype(int))
    cols = np.unique(np.linspace(0, width - bw, min(SAMPLE_COLS, max(1, width // bw))).astype(int))
    return [(int(r), int(c), bh, bw) for r in rows for c in cols]


def read_side_by_side(reader: Any, pol: str, parts: list[tuple[int, int, int, int]]) -> np.ndarray:
    """(T, h, n * (w + 1)) dB of equal blocks side by side, each followed by a NaN column.

    One array lets one call smooth, detect or composite every block; the NaN column keeps the
    neighbourhood smoothing from mixing two blocks. Block ``i`` is columns ``i * (w + 1)`` to
    ``i * (w + 1) + w``.
    """
    from rasterio.windows import Window  # lazy: rasterio

    cubes = []
    for row, col, h, w in parts:
        cube = reader.read(pol, Window(col, row, w, h))
        cubes.append(np.concatenate([cube, np.full(cube.shape[:2] + (1,), np.nan, np.float32)], axis=2))
    return np.concatenate(cubes, axis=2)


def sampled_events(side_by_side: np.ndarray, dates: list[dt.date], n_blocks: int) -> PixelEvents:
    """:func:`~backend.seasons.detect.pixel_events` of :func:`read_side_by_side`'s blocks, in two halves on
    two threads when more than one is allowed (:func:`~backend.raster.threads.threads_allowed`).

    The halves share the NaN column that ends the first one, so every pixel sees the neighbours it has in
    the whole array and the events are the same bits; the shared column (no data, no event) is kept once.
    NumPy releases the GIL in its loops: 0.10 s instead of 0.13-0.20 s for the 18 blocks of a 57-date series.
    """
    if n_blocks < 2 or not threads_allowed():
        return detect.pixel_events(side_by_side, dates)
    split = (n_blocks // 2) * (side_by_side.shape[-1] // n_blocks)  # just after a block's NaN column
    first, second = map_each(lambda part: detect.pixel_events(part, dates),
                             [side_by_side[..., :split], side_by_side[..., split - 1:]], parallel=True)
    return PixelEvents(days=np.concatenate([first.days, second.days[..., 1:]], axis=-1),
                       valid=np.concatenate([first.valid, second.valid[:, 1:]], axis=-1),
                       stats={k: np.concatenate([first.stats[k], second.stats[k]]) for k in first.stats})


def scan(reader: Any, window_days: int, full: bool = True, reporter: Any = None) -> Detection:
    """Detect the rice cycles of a series.

    Args:
        reader: an open :class:`~backend.raster.SeriesReader` with VH.
        window_days: the model's composite window length, for each cycle's window.
        full: every pixel (per-pixel events kept, for the seasons outputs) or a sparse sample of blocks
            (enough for the scene's cycles; what ``map`` uses, so big scenes stay cheap).
        reporter: optional progress reporter.

    Returns:
        The detection; its ``cycles`` may be empty (see :func:`no_cycle_message`).

    Raises:
        UserError: the series is shorter than one crop cycle or lacks VH.
    """
    from rasterio.windows import Window  # lazy: rasterio

    dates = series_dates(reader)
    check_length(dates)
    parts = blocks(reader.grid.height, reader.grid.width, full)
    if not full:
        block = sampled_events(read_side_by_side(reader, "VH", parts), dates, len(parts))
        return _detection(dates, [block], window_days, block.days.ravel())
    if reporter:
        reporter.stage("seasons-scan", len(parts), f"looking for flooding and growth in {len(dates)} VH dates")
    found_blocks = []
    for part in parts:
        row, col, h, w = part
        found_blocks.append(detect.pixel_events(reader.read("VH", Window(col, row, w, h)), dates))
        if reporter:
            reporter.advance(1)
    events = [b.days for b in found_blocks]
    found = _detection(dates, found_blocks, window_days, np.concatenate([e.reshape(e.shape[0], -1) for e in events], axis=1))
    k = max(e.shape[0] for e in events)
    found.events = np.concatenate([np.pad(e, ((0, k - e.shape[0]), (0, 0), (0, 0))) for e in events], axis=1)
    found.valid = np.concatenate([b.valid for b in found_blocks], axis=0)
    return found


def _detection(dates: list[dt.date], found_blocks: list[detect.PixelEvents], window_days: int,
               event_days: np.ndarray) -> Detection:
    """The scene's cycles, gaps and VH statistics from the blocks' events."""
    n_valid = int(sum(b.valid.sum() for b in found_blocks))
    series = (dates[0], dates[-1])
    cycles = detect.scene_cycles(event_days, n_valid, series, window_days)
    gaps = find_gaps(dates)
    stats = {k: np.concatenate([b.stats[k] for b in found_blocks]) for k in ("min_db", "rise_db", "mean_db")}
    return Detection(series=series, n_dates=len(dates), cycles=cycles, gaps=gaps, n_valid=n_valid,
                     vh_stats=_vh_statistics(stats), notes=gap_notes(gaps, cycles))


def _vh_statistics(stats: dict[str, np.ndarray]) -> dict:
    """Median and spread of the per-pixel VH mean, minimum and rise after the minimum (dB)."""
    def pct(values: np.ndarray) -> dict:
        values = values[np.isfinite(values)]
        if values.size == 0:
            return {}
        p5, p50, p95 = np.percentile(values, [5, 50, 95])
        return {"p5": round(float(p5), 2), "median": round(float(p50), 2), "p95": round(float(p95), 2)}

    mins, rises = stats["min_db"], stats["rise_db"]
    flooded = np.isfinite(mins) & (mins <= detect.FLOOD_MAX_DB)
    return {"mean_db": pct(stats["mean_db"]), "min_db": pct(mins), "rise_after_min_db": pct(rises),
            "share_flooded": round(float(flooded.mean()) if mins.size else 0.0, 4),
            "share_flooded_and_rising": round(float((flooded & (rises >= detect.RISE_DB)).mean())
                                              if mins.size else 0.0, 4)}


def no_cycle_message(found: Detection) -> str:
    """Why no rice cycle was found, with the VH statistics that led to it."""
    s = found.vh_stats
    return (f"no rice crop cycle found in {found.series[0]} to {found.series[1]} ({found.n_valid} valid pixels): "
            f"a cycle needs VH at or below {detect.FLOOD_MAX_DB} dB (flooding) followed within 24-96 days by a "
            f"rise of at least {detect.RISE_DB} dB on at least {detect.MIN_CYCLE_SHARE:.0%} of the pixels. Here "
            f"VH mean {s['mean_db'].get('median', 'n/a')} dB (median), per-pixel minimum "
            f"{s['min_db'].get('median', 'n/a')} dB (5-95 %: {s['min_db'].get('p5', 'n/a')} to "
            f"{s['min_db'].get('p95', 'n/a')}), rise after it {s['rise_after_min_db'].get('median', 'n/a')} dB; "
            f"{s['share_flooded']:.1%} of pixels flood, {s['share_flooded_and_rising']:.1%} flood and then grow. "
            "Check that the files are Sentinel-1 VH over rice land and that the series spans a crop cycle")
