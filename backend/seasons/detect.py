"""Rice crop cycles found from the VH series: a flooding minimum followed by VH growth.

The rule (sources in docs/seasons.md):

* transplanting or wet sowing happens into a flooded field, where VH falls to its minimum of the
  season (specular reflection off calm water; Nguyen et al. 2016, Bazzi et al. 2019);
* VH then grows by several dB over the next one to three months as the canopy builds volume
  scattering (Le Toan et al. 1997; Inoue et al. 2002), and the cycle ends with harvest ~90-120 days
  after transplanting (Mekong calendars: Kontgis et al. 2015; Clauss et al. 2018).

Per pixel, VH is smoothed in space (3 x 3 mean of linear power, against speckle); each acquisition
that is the lowest within +-24 days, at or below :data:`FLOOD_MAX_DB` and :data:`FLOOD_DROP_DB` below
the previous 60 days starts a flooded low. When the low is followed within 14-50 days by a rise of at
least :data:`RISE_DB` to a canopy level (:data:`CANOPY_MIN_DB`), it is a flooding event, dated at its
minimum (transplanting) or, for a low longer than :data:`SHORT_FLOOD_DAYS` (a seasonal inundation), at
its end (sowing after the water recedes). A cycle is complete when the series runs
:data:`COMPLETE_DAYS` past its flooding; only complete cycles count in the cropping intensity. Scene
cycles are the peaks of the histogram of event dates over all pixels (see :func:`scene_cycles`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

MIN_SERIES_DAYS = 120  # one crop cycle: flooding plus ~90 days of growth to heading, with margins
FLOOD_MAX_DB = -20.0  # VH of a flooded paddy; open fields, orchards and towns stay above
RISE_DB = 3.0  # growth after flooding, flooded field to tillering/heading canopy
FLOOD_DROP_DB = 3.0  # the flooding is a drop below the previous 60 days' highest VH (not a dry sowing)
DROP_DAYS = 60
CANOPY_MIN_DB = -18.0  # the rise must reach a rice canopy's VH (open water, even wind-roughened, stays below)
LOCAL_DAYS = 24  # a minimum is the lowest acquisition within +-24 days (two 12-day revisits)
GROWTH_DAYS = (14, 50)  # the rise must show 14-50 days after the end of the flooded low
SEPARATION_DAYS = 60  # two crops of one field are at least this far apart (shortest cycle ~90 days)
PEAK_SEPARATION_DAYS = 45  # scene cycles: calendars of neighbouring farming systems can differ by ~2 months
FLOOD_TAIL_DAYS = 90  # a seasonal inundation before sowing can last this long after its minimum
SHORT_FLOOD_DAYS = 24  # a flooded low up to this long is transplanting, dated at its minimum
FLOOD_TOLERANCE_DB = 3.0  # speckle and wind on the flooded field
MATCH_DAYS = 40  # a pixel's event belongs to a scene cycle whose peak is this close
MIN_CYCLE_SHARE = 0.03
HIST_SIGMA_DAYS = 8  # Gaussian smoothing of the scene's histogram of event dates
MIN_RELATIVE_SHARE = 0.2  # ... and at least this fraction of the largest cycle's share (drops noise peaks)
COMPLETE_DAYS = 90  # a cycle is complete when the series runs this long after its flooding
GAP_DAYS = 25  # a gap between acquisitions longer than two 12-day revisits (plus a day)
LEAD_DAYS = 15  # the cycle window starts about this long before the flooding peak (ties of the rule below)
FLOOD_SPAN_DAYS = 40  # ... placed so that most of the cycle's floodings fall in its first 40 days: the models
# were trained with the sowing 20 days after to 45 days before the window's start (docs/models.md)
PAST_END_DAYS = 30  # a cycle's window may run this long past the last acquisition (steps filled from the last
# observed one) before it is shifted back: shifting moved the flood to the training edge (day 45) and lost rice
CYCLE_DAYS = 105  # flooding to harvest used for overlap tests (Mekong 90-120 days)
NODATA_DAY = 0


@dataclass
class PixelEvents:
    """Flooding events of a block of pixels: ``days`` (K, h, w) ordinals, 0 where none; ``valid`` (h, w)."""

    days: np.ndarray
    valid: np.ndarray
    stats: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Cycle:
    """One rice crop cycle of the scene."""

    flood: dt.date  # peak of the flooding / transplanting dates
    window: tuple[dt.date, dt.date]  # composite window for the model
    share: float  # share of valid pixels with a flooding event in this cycle
    complete: bool  # flooding and ~90 days of growth inside the series

    @property
    def label(self) -> str:
        return f"{self.window[0].isoformat()}_{self.window[1].isoformat()}"

    def record(self) -> dict:
        return {"flood_peak": self.flood.isoformat(), "flood_doy": self.flood.timetuple().tm_yday,
                "window": [self.window[0].isoformat(), self.window[1].isoformat()],
                "share": round(self.share, 4), "complete": self.complete}


SIMILAR_NEIGHBOURS = 5  # of the 8 neighbours: a pixel on a straight field edge has 5 on its own side


def smooth_linear(cube_db: np.ndarray) -> np.ndarray:
    """Edge-aware 3 x 3 mean of each date in linear power, back to dB (speckle reduction).

    Each pixel is averaged with the :data:`SIMILAR_NEIGHBOURS` of its 8 neighbours whose series is closest
    to its own (mean absolute dB difference over the dates): inside a field that is nearly the plain 3 x 3
    mean, while a pixel on a field's edge is not mixed with the road, canal or orchard beyond it, whose
    brightness washed the flooding dip out of a plain mean (the edge pixels of the synthetic mekong
    scenes lost most of their events). Rank-based, so no dB threshold depends on the number of looks.
    numpy only: the lean mapping environment has no SciPy.
    """
    lin = np.power(np.float32(10.0), cube_db / np.float32(10.0))
    h, w = cube_db.shape[-2:]
    pad = [(0, 0)] * (cube_db.ndim - 2) + [(1, 1), (1, 1)]
    padded_db, padded_lin = np.pad(cube_db, pad, mode="edge"), np.pad(lin, pad, mode="edge")
    offsets = [(i, j) for i in range(3) for j in range(3) if (i, j) != (1, 1)]
    dist = np.stack([_mean_distance(padded_db[..., i:i + h, j:j + w], cube_db) for i, j in offsets])
    dist = np.where(np.isfinite(dist), dist, np.inf)
    rank = np.argsort(np.argsort(dist, axis=0), axis=0)
    ok = np.isfinite(lin)
    num, den = np.where(ok, lin, 0).astype(np.float32), ok.astype(np.float32)
    padded_ok = np.isfinite(padded_lin)
    padded_lin = np.where(padded_ok, padded_lin, np.float32(0))  # a neighbour without a value adds 0 ...
    padded_ok = padded_ok.astype(np.float32)  # ... and does not count
    term = np.empty_like(num)
    for n, (i, j) in enumerate(offsets):
        chosen = ((rank[n] < SIMILAR_NEIGHBOURS) & np.isfinite(dist[n])).astype(np.float32)[..., None, :, :]
        num += np.multiply(padded_lin[..., i:i + h, j:j + w], chosen, out=term)  # x 1 or x 0: exact
        den += np.multiply(padded_ok[..., i:i + h, j:j + w], chosen, out=term)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (10.0 * np.log10(np.where(den > 0, num / np.maximum(den, 1e-6), np.nan))).astype(np.float32)


def _mean_distance(neighbour_db: np.ndarray, cube_db: np.ndarray) -> np.ndarray:
    """Mean absolute dB difference over the dates (axis -3), NaN pairs left out: ``np.nanmean``'s sum and
    division (so the same bits) without its copy of the block."""
    difference = np.abs(neighbour_db - cube_db)
    missing = np.isnan(difference)
    np.copyto(difference, np.float32(0), where=missing)
    total = np.sum(difference, axis=-3)
    count = difference.shape[-3] - np.count_nonzero(missing, axis=-3)
    with np.errstate(invalid="ignore"):  # 0 / 0 where every pair is missing: NaN, never chosen
        return np.true_divide(total, count, out=total, casting="unsafe")


def _ranges(ordinals: np.ndarray, lo_days: int, hi_days: int) -> list[slice]:
    """For each acquisition, the acquisitions ``lo_days`` to ``hi_days`` days after it (inclusive), as a
    slice of the ascending dates (a view, where an index array would copy the block)."""
    starts = np.searchsorted(ordinals, ordinals + lo_days, side="left")
    stops = np.searchsorted(ordinals, ordinals + hi_days, side="right")
    return [slice(int(a), int(max(a, b))) for a, b in zip(starts, stops)]


def pixel_events(cube_db: np.ndarray, dates: list[dt.date]) -> PixelEvents:
    """Flooding events of every pixel of a (T, h, w) VH dB block.

    Works on the acquisitions themselves (no temporal compositing: averaging a two-week flood with its
    neighbours in linear power would wash the dip out).

    Args:
        cube_db: VH backscatter in dB, NaN = no data.
        dates: acquisition date of each band, ascending.

    Returns:
        The events (dates as ordinals), the valid mask and block statistics for the report.
    """
    smooth = smooth_linear(cube_db)
    ordinals = np.asarray([d.toordinal() for d in dates])
    observed = np.isfinite(smooth)
    valid = observed.mean(axis=0) >= 0.5
    low = np.where(observed, smooth, np.inf)
    high = np.where(observed, smooth, -np.inf)
    tails = _ranges(ordinals, 1, FLOOD_TAIL_DAYS)  # once per call: the dates are the same for every t
    local = np.stack([low[r].min(axis=0) for r in _ranges(ordinals, -LOCAL_DAYS, LOCAL_DAYS)])
    growth = np.stack([high[r].max(axis=0) if r.stop > r.start else np.full(low.shape[1:], -np.inf)
                       for r in _ranges(ordinals, *GROWTH_DAYS)])
    before = np.stack([high[r].max(axis=0) if r.stop > r.start else np.full(low.shape[1:], np.inf)
                       for r in _ranges(ordinals, -DROP_DAYS, -1)])
    depth = np.full(low.shape, np.inf, dtype=np.float32)  # at each flood end: the lowest VH of its low
    start = np.zeros(low.shape, dtype=np.int64)  # ... and the date of that lowest VH
    with np.errstate(invalid="ignore"):  # inf - inf where a pixel has no data before or after
        drop = before - low
    pixels = np.arange(low[0].size).reshape(low.shape[1:])
    flat_growth, flat_depth, flat_start = growth.reshape(-1), depth.reshape(-1), start.reshape(-1)
    for t in range(len(dates)):
        minimum = (low[t] <= local[t]) & (low[t] <= FLOOD_MAX_DB) & (drop[t] >= FLOOD_DROP_DB) & valid
        if not minimum.any():
            continue
        at_end = _flood_end(t, low, tails[t]) * pixels.size + pixels  # flat index of (flood end, pixel)
        g = flat_growth[at_end]
        ok = minimum & (g - low[t] >= RISE_DB) & (g >= CANOPY_MIN_DB)
        current = flat_depth[at_end]
        deeper = ok & (low[t] < current)
        flat_depth[at_end] = np.where(deeper, low[t], current)
        flat_start[at_end] = np.where(deeper, ordinals[t], flat_start[at_end])
    kept = _keep_deepest(depth, ordinals)
    ends = np.broadcast_to(ordinals[:, None, None], kept.shape)
    # a short flood is transplanting at its minimum; a long inundation ends with sowing
    dated = np.where(ends - start > SHORT_FLOOD_DAYS, ends, start)
    days = np.where(kept, dated, 0).astype(np.int32)
    return PixelEvents(days=days, valid=valid, stats=_block_stats(smooth, valid, growth, low))


def _flood_end(t: int, low: np.ndarray, tail: slice) -> np.ndarray:
    """Per pixel, the index of the last acquisition of the flooded low that starts at acquisition ``t``.

    The run lasts at most :data:`FLOOD_TAIL_DAYS` and its VH stays within :data:`FLOOD_TOLERANCE_DB` of
    the value at ``t`` or at most :data:`FLOOD_MAX_DB` (one bright acquisition is allowed): a field stays
    flooded for about two weeks around transplanting, and a seasonal inundation ends with sowing.
    ``tail`` is the slice of the acquisitions 1 to :data:`FLOOD_TAIL_DAYS` days after ``t``.
    """
    end = np.full(low.shape[1:], t, dtype=np.int64)
    running = np.ones(low.shape[1:], dtype=bool)
    flooded = low[tail.start:tail.stop + 1] <= np.maximum(low[t] + FLOOD_TOLERANCE_DB, FLOOD_MAX_DB)
    for k, j in enumerate(range(tail.start, tail.stop)):  # flooded[k] is acquisition j; k + 1 the next one
        # one bright acquisition (wind, speckle) does not end the flood when the next one is low again
        running &= flooded[k] | (flooded[k + 1] if k + 1 < len(flooded) else False)
        end = np.where(running & flooded[k], j, end)
    return end


def _keep_deepest(depth: np.ndarray, ordinals: np.ndarray) -> np.ndarray:
    """Flood ends (finite ``depth``) with no deeper one within :data:`SEPARATION_DAYS` (ties: the later)."""
    kept = np.isfinite(depth)
    first = np.searchsorted(ordinals, ordinals - SEPARATION_DAYS, side="right")  # ascending dates: the
    stop = np.searchsorted(ordinals, ordinals + SEPARATION_DAYS, side="left")  # ones closer than that
    for t in range(len(ordinals)):
        earlier, later = depth[first[t]:t], depth[t + 1:stop[t]]
        beaten = np.zeros(depth.shape[1:], dtype=bool)
        if earlier.size:
            beaten |= ((earlier < depth[t]) & np.isfinite(earlier)).any(axis=0)
        if later.size:
            beaten |= ((later <= depth[t]) & np.isfinite(later)).any(axis=0)  # a tie goes to the later one
        kept[t] &= ~beaten
    return kept


def _block_stats(smooth: np.ndarray, valid: np.ndarray, growth: np.ndarray, v: np.ndarray) -> dict:
    """Per-pixel VH mean, minimum and rise after a minimum, for the 'no cycle found' message."""
    minimum = np.where(valid, v.min(axis=0), np.nan)
    rise = np.where(np.isfinite(growth) & np.isfinite(v), growth - v, -np.inf).max(axis=0)
    rise = np.where(np.isfinite(rise), rise, np.nan)
    return {"min_db": minimum[valid], "rise_db": rise[valid],
            "mean_db": np.nanmean(smooth[:, valid], axis=0) if valid.any() else np.zeros(0)}


def scene_cycles(event_days: np.ndarray, n_valid: int, series: tuple[dt.date, dt.date],
                 window_days: int) -> list[Cycle]:
    """Cycles of the scene from all pixels' event dates (ordinals, 0 = none).

    Args:
        event_days: event ordinals of all pixels, any shape; zeros are ignored.
        n_valid: number of valid pixels (the denominator of each cycle's share).
        series: first and last acquisition date.
        window_days: length of the composite window given to the model.

    Returns:
        Cycles sorted by flooding date, each holding at least :data:`MIN_CYCLE_SHARE` of the pixels.
    """
    events = event_days[event_days > 0]
    if n_valid == 0 or events.size == 0:
        return []
    origin = series[0].toordinal() - 40
    hist = np.bincount(events - origin, minlength=(series[1].toordinal() - origin) + 41).astype(float)
    offsets = np.arange(-4 * HIST_SIGMA_DAYS, 4 * HIST_SIGMA_DAYS + 1)
    kernel = np.exp(-0.5 * (offsets / HIST_SIGMA_DAYS) ** 2)
    smooth = np.convolve(hist, kernel / kernel.sum(), mode="same")
    peaks = _peaks(smooth, events - origin, n_valid)
    return [_cycle(dt.date.fromordinal(origin + p), share, series, window_days,
                   dt.date.fromordinal(origin + _window_start(mine, p))) for p, share, mine in peaks]


def _window_start(claimed: np.ndarray, peak: int) -> int:
    """The window start (day offset) that puts the most of a cycle's flooding dates in its first
    :data:`FLOOD_SPAN_DAYS` days; among equal counts, the one nearest :data:`LEAD_DAYS` before the peak.

    A cycle's fields flood over weeks (An Giang's spring crop: from March to late April); a window
    fixed on the peak alone cut the earliest floodings off.
    """
    starts = np.arange(peak - MATCH_DAYS, peak + 1)
    counts = np.asarray([np.count_nonzero((claimed >= s) & (claimed < s + FLOOD_SPAN_DAYS)) for s in starts])
    best = starts[counts == counts.max()]
    return int(best[np.argmin(np.abs(best - (peak - LEAD_DAYS)))])


def _peaks(smooth: np.ndarray, offsets: np.ndarray, n_valid: int) -> list[tuple[int, float, np.ndarray]]:
    """Greedy peak picking, highest first, at least :data:`PEAK_SEPARATION_DAYS` apart.

    Each peak claims the events within :data:`MATCH_DAYS` that no higher peak claimed, and its share
    counts only those, so the tails of two big cycles do not make a third one between them.
    Returns (peak, share, the offsets it claimed) sorted by date.
    """
    order = np.argsort(smooth)[::-1]
    claimed = np.zeros(offsets.shape, dtype=bool)
    chosen: list[tuple[int, float, np.ndarray]] = []
    for p in order:
        if smooth[p] <= 0 or len(chosen) > 12:
            break
        if any(abs(p - q) < PEAK_SEPARATION_DAYS for q, _, _ in chosen):
            continue
        if p > 0 and smooth[p - 1] > smooth[p] or p + 1 < len(smooth) and smooth[p + 1] > smooth[p]:
            continue
        mine = (np.abs(offsets - p) <= MATCH_DAYS) & ~claimed
        share = float(mine.sum()) / n_valid
        if share >= MIN_CYCLE_SHARE:
            claimed |= mine
            chosen.append((int(p), share, offsets[mine]))
    top = max((share for _, share, _ in chosen), default=0.0)
    return sorted((c for c in chosen if c[1] >= MIN_RELATIVE_SHARE * top), key=lambda c: c[0])


def _cycle(flood: dt.date, share: float, series: tuple[dt.date, dt.date], window_days: int,
           start: dt.date) -> Cycle:
    lead = (flood - start).days
    end = start + dt.timedelta(days=window_days - 1)
    if end > series[1]:  # near the data's end; the flood may sit up to 45 days in (training)
        shift = max(min(max((end - series[1]).days - PAST_END_DAYS, 0), 45 - lead), 0)
        start, end = start - dt.timedelta(days=shift), end - dt.timedelta(days=shift)
    if start < series[0]:
        shift = max(min((series[0] - start).days, 20 + lead), 0)
        start, end = start + dt.timedelta(days=shift), end + dt.timedelta(days=shift)
    complete = flood >= series[0] and (series[1] - flood).days >= COMPLETE_DAYS
    return Cycle(flood=flood, window=(start, end), share=share, complete=complete)


def assign(event_days: np.ndarray, cycles: list[Cycle]) -> np.ndarray:
    """(len(cycles), h, w) ordinal of each pixel's events, each given to its nearest cycle (0 = none).

    Args:
        event_days: (K, h, w) event ordinals of a block.
        cycles: the scene's cycles.

    Returns:
        Per cycle, the pixel's flooding date that is nearest to that cycle's peak (within
        :data:`MATCH_DAYS`) among the events whose nearest cycle it is; one event counts once.
    """
    out = np.zeros((len(cycles),) + event_days.shape[1:], dtype=np.int32)
    if not cycles:
        return out
    peaks = np.asarray([c.flood.toordinal() for c in cycles])
    dist = np.abs(event_days[None] - peaks[:, None, None, None])  # (C, K, h, w)
    nearest = np.argmin(dist, axis=0)
    ok = (event_days > 0) & (np.take_along_axis(dist, nearest[None], axis=0)[0] <= MATCH_DAYS)
    big = np.iinfo(np.int32).max
    for c in range(len(cycles)):
        mine = ok & (nearest == c)
        d = np.where(mine, dist[c], big)
        k = np.argmin(d, axis=0)
        best = np.take_along_axis(event_days, k[None], axis=0)[0]
        out[c] = np.where(np.take_along_axis(d, k[None], axis=0)[0] < big, best, 0)
    return out
