"""Land-cover classes and their Sentinel-1 C-band VV/VH temporal behaviour (dB).

Two kinds of temporal model:

* :class:`CycleTemplate` for crops: piecewise-linear keypoints relative to the sowing (or
  transplanting) day of each crop cycle, with a fallow state between cycles. Rice templates start
  with a flooded phase; other crops never do.
* :class:`StableCover` for everything else: a constant level with an optional seasonal swing and a
  sensitivity to per-date scene conditions (soil moisture after rain, wind over open water).

Levels and their sources are documented in ``docs/synthetic.md``; the Mekong rice template was
tuned against real Sentinel-1 RTC cubes from An Giang (see :mod:`backend.synthetic.calibration`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RICE = 1
MAIZE = 2
SOYBEAN = 3
COTTON = 4
BARLEY = 5
GRASSLAND = 6
FOREST = 7
ORCHARD = 8
WATER_CALM = 9
WATER_OPEN = 10
BUILT_UP = 11
BARE_SOIL = 12
ROAD = 13

LANDCOVER_NAMES: dict[int, str] = {
    RICE: "rice", MAIZE: "maize", SOYBEAN: "soybean", COTTON: "cotton", BARLEY: "barley",
    GRASSLAND: "grassland", FOREST: "forest", ORCHARD: "orchard", WATER_CALM: "water_calm",
    WATER_OPEN: "water_open", BUILT_UP: "built_up", BARE_SOIL: "bare_soil", ROAD: "road",
}
CODE_BY_NAME = {name: code for code, name in LANDCOVER_NAMES.items()}


@dataclass(frozen=True)
class CycleTemplate:
    """One crop cycle: ``days`` relative to sowing, with VV/VH dB at each keypoint.

    ``fallow_vv``/``fallow_vh`` hold between cycles (stubble, tilled or wet soil);
    ``moisture_gain`` scales how much a wet date brightens the fallow and early stages.
    """

    days: tuple[float, ...]
    vv: tuple[float, ...]
    vh: tuple[float, ...]
    fallow_vv: float
    fallow_vh: float
    moisture_gain: float = 1.0

    @property
    def length(self) -> float:
        return self.days[-1] - self.days[0]


@dataclass(frozen=True)
class StableCover:
    """A cover without crop cycles: mean levels, seasonal swing, texture and date sensitivity."""

    vv: float
    vh: float
    seasonal_vv: float = 0.0  # peak-to-mean amplitude (dB) of a yearly cosine
    seasonal_vh: float = 0.0
    peak_doy: int = 200
    object_sd: float = 0.8  # object-to-object spread of the level (dB)
    pixel_sd: float = 0.6  # persistent within-object texture (dB)
    moisture_gain: float = 0.0  # dB per unit of the scene's per-date wetness
    wind_gain: float = 0.0  # dB per unit of the scene's per-date wind roughening (VV; VH gets a fifth:
    # cross-polarized return of water stays near the noise floor)


# Rice, wet direct-seeded/transplanted tropical crop (Mekong). Day 0 = sowing into the flooded field.
# Shape tuned on An Giang 2022 cubes: flooding dip (VH ~-22.5), an early VV double-bounce peak
# (~-6.5 dB two to three weeks after sowing), a VV dip near canopy closure, VH plateau ~-14.5 at
# heading, harvest ~95-100 days after sowing.
RICE_MEKONG = CycleTemplate(
    days=(-12, -6, 2, 10, 18, 30, 42, 51, 62, 76, 88, 97, 103),
    vv=(-10.5, -15.5, -15.0, -6.5, -5.3, -6.3, -10.5, -12.8, -10.5, -9.0, -8.6, -9.8, -11.0),
    vh=(-16.5, -23.0, -22.7, -19.8, -17.0, -16.3, -16.1, -16.5, -14.7, -13.6, -13.6, -14.6, -16.8),
    fallow_vv=-11.0, fallow_vh=-17.0)

# Transplanted temperate paddy (Korea-like). Day 0 = transplanting into puddled fields.
RICE_TRANSPLANTED = CycleTemplate(
    days=(-12, -6, 0, 15, 30, 50, 75, 100, 122, 128),
    vv=(-12.0, -17.0, -16.0, -12.5, -10.5, -9.5, -9.3, -10.0, -10.5, -11.5),
    vh=(-19.0, -24.0, -23.0, -21.0, -18.5, -15.5, -13.8, -14.5, -15.5, -18.0),
    fallow_vv=-12.0, fallow_vh=-19.0)

# Dry drill-seeded, delayed permanent flood at ~5-leaf stage (Arkansas-like). Day 0 = drilling into
# dry seedbed (VV ~-20 dB), flood ~30 days later, drain and harvest ~130 days.
RICE_DRY_SEEDED = CycleTemplate(
    days=(0, 20, 28, 34, 55, 80, 105, 122, 132),
    vv=(-19.5, -19.0, -16.5, -15.0, -11.0, -9.0, -9.5, -10.5, -12.0),
    vh=(-25.0, -24.0, -22.5, -21.0, -16.0, -13.5, -14.0, -15.0, -18.0),
    fallow_vv=-13.0, fallow_vh=-20.0)

# Water-seeded, continuous flood (Sacramento-like). Day 0 = aerial seeding into standing water
# (calm water VV ~-22 dB); flood kept until drainage ~3 weeks before harvest (~day 145).
RICE_WATER_SEEDED = CycleTemplate(
    days=(-10, -4, 0, 25, 45, 70, 95, 125, 140, 148),
    vv=(-12.5, -21.5, -22.0, -20.0, -14.0, -9.5, -9.0, -9.8, -10.5, -11.5),
    vh=(-19.0, -25.5, -26.0, -24.0, -19.0, -14.5, -13.0, -13.8, -15.0, -17.5),
    fallow_vv=-12.5, fallow_vh=-19.0)

# Other crops: bare soil at sowing, growth without a flooding dip, harvest back to soil.
MAIZE_CYCLE = CycleTemplate(
    days=(0, 25, 45, 70, 95, 115, 120),
    vv=(-11.5, -11.0, -10.0, -10.5, -10.0, -10.5, -11.5),
    vh=(-19.5, -18.0, -15.5, -13.8, -14.0, -15.5, -18.5),
    fallow_vv=-11.5, fallow_vh=-19.0, moisture_gain=1.0)
SOYBEAN_CYCLE = CycleTemplate(
    days=(0, 25, 45, 65, 90, 110, 115),
    vv=(-12.0, -11.5, -9.5, -8.0, -8.5, -10.5, -12.0),
    vh=(-20.0, -19.0, -16.0, -13.2, -13.5, -16.0, -19.0),
    fallow_vv=-12.0, fallow_vh=-19.5, moisture_gain=1.0)
COTTON_CYCLE = CycleTemplate(
    days=(0, 30, 55, 85, 120, 150, 155),
    vv=(-12.0, -11.5, -10.0, -8.8, -9.0, -10.5, -12.0),
    vh=(-20.0, -19.5, -17.0, -14.5, -14.0, -16.0, -19.0),
    fallow_vv=-12.0, fallow_vh=-19.5, moisture_gain=1.0)
# Winter barley: sown in autumn, vertical stems attenuate VV in spring, harvest in early summer.
BARLEY_CYCLE = CycleTemplate(
    days=(0, 40, 150, 185, 205, 225, 230),
    vv=(-11.5, -12.0, -12.5, -13.0, -12.0, -11.0, -11.5),
    vh=(-19.5, -19.0, -17.0, -15.5, -15.5, -16.5, -18.5),
    fallow_vv=-11.5, fallow_vh=-19.0, moisture_gain=1.0)

CROP_TEMPLATES: dict[int, CycleTemplate] = {
    MAIZE: MAIZE_CYCLE, SOYBEAN: SOYBEAN_CYCLE, COTTON: COTTON_CYCLE, BARLEY: BARLEY_CYCLE,
}

STABLE_COVERS: dict[int, StableCover] = {
    GRASSLAND: StableCover(-11.5, -17.5, 1.0, 1.0, 190, 1.0, 0.8, moisture_gain=1.2),
    FOREST: StableCover(-7.5, -13.0, 0.4, 0.6, 200, 0.6, 0.7),
    ORCHARD: StableCover(-5.8, -11.8, 0.2, 0.3, 200, 0.7, 0.8),
    WATER_CALM: StableCover(-24.0, -26.0, 0.0, 0.0, 200, 1.0, 0.5, wind_gain=2.0),
    WATER_OPEN: StableCover(-18.5, -22.5, 0.0, 0.0, 200, 0.8, 0.4, wind_gain=5.0),
    BUILT_UP: StableCover(-3.0, -11.0, 0.0, 0.0, 200, 2.0, 3.5),
    BARE_SOIL: StableCover(-13.0, -20.0, 0.0, 0.0, 200, 1.2, 0.8, moisture_gain=2.5),
    ROAD: StableCover(-10.0, -16.5, 0.0, 0.0, 200, 1.0, 1.5, moisture_gain=0.8),
}


def cycle_curves(days: np.ndarray, sowings: np.ndarray, template: CycleTemplate, stretch: np.ndarray,
                 vv_offset: float, vh_offset: float, wetness: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """VV and VH (dB) of one field at ``days`` (day numbers) for crop cycles sown on ``sowings``.

    ``stretch`` (one per sowing) lengthens or shortens every stage (season, variety, weather); the
    offsets shift the canopy levels field by field. Between cycles the template's fallow levels hold,
    brightened on wet dates.
    """
    template_days = np.asarray(template.days, dtype=np.float64)
    vv = np.full(days.shape, template.fallow_vv, dtype=np.float64)
    vh = np.full(days.shape, template.fallow_vh, dtype=np.float64)
    in_fallow = np.ones(days.shape, dtype=bool)
    stretch = np.broadcast_to(np.asarray(stretch, dtype=np.float64), np.shape(sowings))
    for sow, factor in zip(sowings, stretch):
        key_days = template_days * factor
        rel = days - sow
        active = (rel >= key_days[0]) & (rel <= key_days[-1])
        if not active.any():
            continue
        vv[active] = np.interp(rel[active], key_days, template.vv)
        vh[active] = np.interp(rel[active], key_days, template.vh)
        in_fallow &= ~active
    vv += vv_offset
    vh += vh_offset
    wet = template.moisture_gain * wetness * in_fallow
    return vv + wet, vh + 0.6 * wet


def stable_curves(doy: np.ndarray, cover: StableCover, level_vv: float, level_vh: float,
                  wetness: np.ndarray, wind: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """VV and VH (dB) of a non-crop object: level + yearly cosine + wetness and wind terms."""
    season = np.cos(2 * np.pi * (doy - cover.peak_doy) / 365.25)
    vv = level_vv + cover.seasonal_vv * season + cover.moisture_gain * wetness + cover.wind_gain * wind
    vh = (level_vh + cover.seasonal_vh * season + 0.6 * cover.moisture_gain * wetness
          + cover.wind_gain / 5.0 * wind)
    return vv, vh
