"""Sentinel-1 acquisition geometry and radiometry: dates, orbits, incidence, gaps, speckle.

* Two relative orbits (one ascending, one descending) with the same repeat cycle, a few days apart,
  as over An Giang in 2022 (12-day repeat after Sentinel-1B failed; pairs of consecutive days).
* Each orbit sees the scene at its own incidence angle and carries a small calibration offset per
  polarization; incidence also varies across the scene in range (~0.07 deg per km for IW).
* Missing acquisitions (whole date NaN) and swath-edge cuts (part of the scene NaN).
* Multiplicative gamma speckle with mean 1 and ``looks`` equivalent number of looks, spatially
  correlated between neighbouring pixels as in real 10 m products.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

REFERENCE_INCIDENCE = 37.0  # deg; curves in landcover.py are levels at this angle
INCIDENCE_PER_KM = 0.068  # deg per km across range in IW (about 29-46 deg over 250 km)
# Residual thermal noise after ESA noise removal: IW NESZ is specified better than -22 dB and is
# typically a few dB lower; a -28 dB additive floor keeps calm water and the VH of flooded fields
# from reaching unrealistically low values.
NOISE_FLOOR_DB = -28.0
NOISE_FLOOR_LINEAR = float(10 ** (NOISE_FLOOR_DB / 10))
# Lag-1 correlation of speckle between neighbouring pixels is about 0.6-0.7 in the real An Giang RTC
# cubes (measured over open-water cubes); a Gaussian of this sigma (pixels) reproduces it.
SPECKLE_CORRELATION_SIGMA = 0.75
# IW GRD resolution is about 20 x 22 m on 10 m pixels: the mean signal is smoothed by this sigma (pixels)
# so boundary pixels mix neighbouring covers.
MIXED_PIXEL_SIGMA = 0.5
# Within-window intensity fluctuations of VV and VH correlate by 0.34-0.37 on the real cubes (rice,
# tree and open-water sites); the synthetic speckle shares that much between polarizations.
SPECKLE_POL_CORRELATION = 0.3


@dataclass
class Acquisitions:
    dates: list[date]
    orbit: np.ndarray  # (T,) 0 = ascending, 1 = descending
    incidence: np.ndarray  # (T,) deg at scene centre
    offset_db: np.ndarray  # (T, 2) per-date calibration offset for VV, VH
    missing: np.ndarray  # (T,) bool, whole acquisition absent
    edge: list[tuple[float, float, float] | None]  # per date: NaN where a*x + b*y > c (pixels)


def acquisition_dates(rng: np.random.Generator, start: date, end: date, revisit: int) -> tuple[list[date], np.ndarray]:
    """Interleaved ascending/descending dates within [start, end] and their orbit index."""
    first = start + timedelta(days=int(rng.integers(0, revisit)))
    gap = int(rng.integers(1, max(revisit // 2, 2)))
    found = []
    for orbit, day0 in ((0, first), (1, first + timedelta(days=gap))):
        day = day0
        while day <= end:
            found.append((day, orbit))
            day += timedelta(days=revisit)
    found.sort()
    return [d for d, _ in found], np.asarray([o for _, o in found], dtype=np.int8)


def plan_acquisitions(rng: np.random.Generator, start: date, end: date, revisit: int,
                      missing_rate: float, edge_rate: float,
                      fixed_dates: list[date] | None = None) -> Acquisitions:
    """Dates, geometry, calibration offsets and gaps of one scene's time series.

    ``fixed_dates`` reproduces a real stack's acquisition dates (orbits then alternate by index).
    """
    if fixed_dates is not None:
        dates, orbit = sorted(fixed_dates), np.arange(len(fixed_dates), dtype=np.int8) % 2
    else:
        dates, orbit = acquisition_dates(rng, start, end, revisit)
    orbit_incidence = rng.uniform(31.0, 44.0, 2)
    orbit_offset = rng.normal(0.0, 0.4, (2, 2))
    t = len(dates)
    missing = rng.random(t) < missing_rate
    if missing.sum() > t - 2:  # keep at least two acquisitions
        missing[rng.permutation(t)[:2]] = False
    edge = [None] * t
    for i in np.flatnonzero(rng.random(t) < edge_rate):
        angle = rng.uniform(0, 2 * np.pi)
        edge[i] = (float(np.cos(angle)), float(np.sin(angle)), float(rng.uniform(0.3, 0.9)))
    return Acquisitions(dates=dates, orbit=orbit, incidence=orbit_incidence[orbit],
                        offset_db=orbit_offset[orbit] + rng.normal(0.0, 0.15, (t, 2)),
                        missing=missing, edge=edge)


def incidence_map(acq: Acquisitions, size: int, pixel: float) -> np.ndarray:
    """(T, 1, W) incidence in deg: orbit angle plus the across-range ramp (opposite for asc/desc)."""
    cols_km = (np.arange(size) - size / 2.0) * pixel / 1000.0
    sign = np.where(acq.orbit == 0, 1.0, -1.0)[:, None]
    return (acq.incidence[:, None] + sign * INCIDENCE_PER_KM * cols_km[None, :])[:, None, :]


def nodata_mask(acq: Acquisitions, size: int) -> np.ndarray:
    """(T, H, W) bool, True where the acquisition has no data (missing date or beyond a swath edge)."""
    mask = np.repeat(acq.missing[:, None, None], size, axis=1).repeat(size, axis=2)
    yy, xx = np.mgrid[0:size, 0:size] / float(size)
    for i, cut in enumerate(acq.edge):
        if cut is not None:
            a, b, c = cut
            mask[i] |= (a * (xx - 0.5) + b * (yy - 0.5)) > c - 0.5
    return mask


def blur_mixed_pixels(linear: np.ndarray, sigma: float = MIXED_PIXEL_SIGMA) -> np.ndarray:
    """Smooth the mean backscatter (linear power) over the last two axes by the resolution cell, so
    pixels on a field boundary mix both sides as in real imagery (the truth stays crisp)."""
    from scipy.ndimage import gaussian_filter

    sigmas = (0.0,) * (linear.ndim - 2) + (sigma, sigma)
    return gaussian_filter(linear, sigmas, mode="nearest")


def _gaussian_weights(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """The 1-D kernel scipy.ndimage.gaussian_filter uses, normalized to sum 1."""
    radius = int(truncate * sigma + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-0.5 * (x / sigma) ** 2)
    return w / w.sum()


def speckle(rng: np.random.Generator, shape: tuple[int, ...], looks: float,
            correlation_sigma: float = 0.0, pol_correlation: float = 0.0) -> np.ndarray:
    """Multiplicative gamma speckle, mean 1, variance 1/looks (fully developed, L-look intensity).

    With ``correlation_sigma`` > 0 the speckle is spatially correlated over the last two axes, as in
    real 10 m products whose resolution cell spans about two pixels: a gamma field with fewer looks is
    smoothed by a Gaussian of that sigma (pixels), the looks chosen so the result keeps variance
    1/looks. sigma 0.75 gives a lag-1 correlation of about 0.6.
    With ``pol_correlation`` > 0, the first axis holds the polarizations and their fluctuations share
    a common part with that correlation coefficient.
    """
    shared_weight = _shared_weight(pol_correlation)
    mix = shared_weight ** 2 + (1 - shared_weight) ** 2
    sum_sq = float((_gaussian_weights(correlation_sigma) ** 2).sum()) ** 2 if correlation_sigma > 0 else 1.0
    raw_looks = looks * sum_sq * mix
    raw = rng.standard_gamma(raw_looks, size=shape).astype(np.float32)
    if shared_weight > 0:
        shared = rng.standard_gamma(raw_looks, size=shape[1:]).astype(np.float32)
        raw = (1 - shared_weight) * raw + shared_weight * shared[None]
    raw /= np.float32(raw_looks)
    if correlation_sigma <= 0:
        return raw
    from scipy.ndimage import gaussian_filter

    sigmas = (0.0,) * (len(shape) - 2) + (correlation_sigma, correlation_sigma)
    return gaussian_filter(raw, sigmas, mode="wrap")


def _shared_weight(correlation: float) -> float:
    """Weight a of a shared field so that a*S + (1-a)*X and a*S + (1-a)*Y correlate by ``correlation``."""
    if correlation <= 0:
        return 0.0
    k = float(np.sqrt(correlation / (1.0 - correlation)))
    return k / (1.0 + k)
