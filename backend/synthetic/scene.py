"""``generate_scene``: a synthetic Sentinel-1 VV/VH time series with known rice truth.

Pipeline (one seed drives independent random streams, so the field layout of a seed does not change
when only the season or the number of looks changes):

1. layout: blocks, canals, roads, parcels, rivers and patches (:mod:`.layout`);
2. calendar: scene-wide shift, per-block zone shift, per-field jitter of sowing dates;
3. per-object mean curves in dB (:mod:`.landcover`), two per crop object (early and late) blended per
   pixel to model uneven emergence inside a field;
4. per-pixel persistent texture, incidence-angle and orbit offsets (:mod:`.sensor`);
5. gamma speckle in linear power, back to dB; NaN for missing dates and swath edges.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import shapely
import shapely.affinity
from shapely.geometry import Polygon, box

from backend.errors import UserError
from backend.synthetic import landcover as lc
from backend.synthetic import sensor
from backend.synthetic.layout import SceneObject, build_layout, rasterize_objects
from backend.synthetic.regions import REGIONS, Region

MIN_SIZE = 16
MAX_SIZE = 1024
MAX_SEASON_DAYS = 3 * 366
WITHIN_FIELD_TIMING_DAYS = 4.0  # early/late halves of a field differ by this many days
INUNDATION_VV, INUNDATION_VH = -19.5, -24.3
INCIDENCE_SLOPE = {  # dB per degree (VV, VH), negative: darker at steeper incidence
    "default": (-0.12, -0.08), lc.WATER_CALM: (-0.45, -0.2), lc.WATER_OPEN: (-0.45, -0.2),
    lc.BUILT_UP: (-0.05, -0.05), lc.FOREST: (-0.06, -0.04), lc.ORCHARD: (-0.07, -0.05),
}


@dataclass
class Field:
    """One object of the scene: polygon in map coordinates (the scene's UTM CRS) and its land cover."""

    polygon: Polygon
    landcover: int
    name: str
    kind: str
    sowing_dates: list[date] = field(default_factory=list)
    system: str | None = None

    @property
    def is_rice(self) -> bool:
        return self.landcover == lc.RICE


@dataclass
class Scene:
    vv_db: np.ndarray  # (T, H, W) float32 dB, NaN = no data
    vh_db: np.ndarray
    dates: list[date]
    truth: np.ndarray  # (H, W) uint8, 1 rice, 0 other
    landcover: np.ndarray  # (H, W) uint8 class codes
    landcover_names: dict[int, str]
    fields: list[Field]
    crs: int  # EPSG code (UTM)
    transform: tuple[float, float, float, float, float, float]  # affine (a, b, c, d, e, f)
    meta: dict
    object_map: np.ndarray | None = None  # (H, W) index into ``fields`` (per-pixel truth of calendars)


def _check_inputs(region: str, size: int, start: date | None, end: date | None, looks: float,
                  pixel_size: float, revisit_days: int | None, missing_rate: float) -> tuple[Region, date, date]:
    if region not in REGIONS:
        raise UserError(f"{{param:region}} {region!r} is unknown; choose one of: {', '.join(sorted(REGIONS))}", param="region")
    spec = REGIONS[region]
    if not isinstance(size, (int, np.integer)) or not MIN_SIZE <= size <= MAX_SIZE:
        raise UserError(f"{{param:size}} {size} is out of range; give a whole number of pixels from {MIN_SIZE} to {MAX_SIZE}", param="size")
    default_start, default_end = spec.default_season(start.year if start else (end.year if end else 2022))
    start, end = start or default_start, end or default_end
    if end <= start:
        raise UserError(f"{{param:end}} {end} is not after {{param:start}} {start}; give a season end later than its start", param="end")
    if (end - start).days > MAX_SEASON_DAYS:
        raise UserError(f"season {start}..{end} is longer than 3 years; shorten {{param:start}}/{{param:end}}", param="start")
    if not looks > 0:
        raise UserError(f"{{param:looks}} {looks} must be positive (Sentinel-1 IW GRD has about 4.4 looks)", param="looks")
    if not pixel_size > 0:
        raise UserError(f"pixel_size {pixel_size} must be positive (metres)")
    if revisit_days is not None and not 1 <= revisit_days <= 60:
        raise UserError(f"revisit_days {revisit_days} must be between 1 and 60 days (Sentinel-1: 6 or 12)")
    if not 0 <= missing_rate < 1:
        raise UserError(f"missing_rate {missing_rate} must be in [0, 1)")
    return spec, start, end


def _perturbed_shares(rng: np.random.Generator, shares: dict[int, float]) -> dict[int, float]:
    """Vary the crop mix scene to scene so a model cannot learn one fixed rice share."""
    return {code: share * float(np.exp(rng.normal(0.0, 0.35))) for code, share in shares.items()}


def _yearly_days(doys: tuple[int, ...], first_year: int, last_year: int) -> np.ndarray:
    base = [date(y, 1, 1).toordinal() - 1 for y in range(first_year, last_year + 1)]
    return np.asarray([b + d for b in base for d in doys], dtype=np.float64)


class _CurveMaker:
    """Mean VV/VH curves (T, 2) for each object, with calendar jitter by block and field."""

    def __init__(self, rng: np.random.Generator, spec: Region, days: np.ndarray, doy: np.ndarray,
                 wetness: np.ndarray, wind: np.ndarray, years: tuple[int, int], shift: float) -> None:
        self.rng, self.spec, self.days, self.doy = rng, spec, days, doy
        self.wetness, self.wind, self.years, self.shift = wetness, wind, years, shift
        self.block_zone: dict[int, tuple[float, int]] = {}
        shares = np.asarray([s.share for s in spec.rice_systems])
        self.system_p = shares / shares.sum()

    def _zone(self, block: int) -> tuple[float, int]:
        if block not in self.block_zone:
            self.block_zone[block] = (float(self.rng.normal(0.0, self.spec.zone_sd)),
                                      int(self.rng.choice(len(self.system_p), p=self.system_p)))
        return self.block_zone[block]

    def curves(self, obj: SceneObject) -> tuple[np.ndarray, np.ndarray, list[float], str | None]:
        """(early, late) curves, each (T, 2), the sowing days and the farming system name."""
        if obj.code == lc.RICE or obj.code in self.spec.crop_sowing_doys:
            return self._crop(obj)
        cover = lc.STABLE_COVERS.get(obj.code, lc.STABLE_COVERS[lc.GRASSLAND])
        common = self.rng.normal(0.0, cover.object_sd)  # a denser stand is brighter in both
        vv, vh = lc.stable_curves(self.doy, cover, cover.vv + common + self.rng.normal(0.0, 0.45),
                                  cover.vh + 0.8 * common + self.rng.normal(0.0, 0.45), self.wetness, self.wind)
        mean = np.stack([vv, vh], axis=1)
        return mean, mean, [], None

    def _crop(self, obj: SceneObject) -> tuple[np.ndarray, np.ndarray, list[float], str | None]:
        zone, system_index = self._zone(obj.block)
        system, per_cycle = None, None
        if obj.code == lc.RICE:
            system = self.spec.rice_systems[system_index]
            template, doys, name = self.spec.rice_template, system.sowing_doys, system.name
            per_cycle = system.cycle_stretch
        else:
            template, doys, name = lc.CROP_TEMPLATES[obj.code], self.spec.crop_sowing_doys[obj.code], None
        jitter = self.rng.normal(0.0, self.spec.field_sd)
        n_years = self.years[1] - self.years[0] + 2
        sowings = _yearly_days(doys, self.years[0] - 1, self.years[1]) + self.shift + zone + jitter
        stretch = self.rng.uniform(*self.spec.stretch_range) * np.tile(per_cycle or (1.0,) * len(doys), n_years)
        offsets = self.rng.normal(0.0, 1.0), self.rng.normal(0.0, 0.7)
        early = self._cycle(sowings - WITHIN_FIELD_TIMING_DAYS / 2, template, stretch, offsets, system)
        late = self._cycle(sowings + WITHIN_FIELD_TIMING_DAYS / 2, template, stretch, offsets, system)
        return early, late, list(sowings), name

    def _cycle(self, sowings: np.ndarray, template: lc.CycleTemplate, stretch: float,
               offsets: tuple[float, float], system) -> np.ndarray:
        vv, vh = lc.cycle_curves(self.days, sowings, template, stretch, offsets[0], offsets[1], self.wetness)
        if system is not None and system.inundation_doys is not None:
            flooded = self._inundated(system)
            vv = np.where(flooded, INUNDATION_VV + 3.0 * self.wind, vv)
            vh = np.where(flooded, INUNDATION_VH + 0.5 * self.wind, vh)
        return np.stack([vv, vh], axis=1)

    def _inundated(self, system) -> np.ndarray:
        first, last = system.inundation_doys
        starts = _yearly_days((first,), self.years[0] - 1, self.years[1]) + self.shift
        flooded = np.zeros(self.days.shape, dtype=bool)
        for s in starts:
            flooded |= (self.days >= s) & (self.days <= s + (last - first))
        return flooded


def _smooth_noise(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    """Unit-variance spatially correlated noise (persistent texture inside objects)."""
    from scipy.ndimage import gaussian_filter

    noise = gaussian_filter(rng.standard_normal((size, size)), sigma, mode="wrap")
    return (noise / max(noise.std(), 1e-6)).astype(np.float32)


def _scene_conditions(rng: np.random.Generator, spec: Region, t: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-date wetness (rain on soil, 0..1.5) and wind roughening of open water (0..1)."""
    wet = (rng.random(t) < spec.wet_prob) * rng.uniform(0.4, 1.5, t)
    wind = rng.random(t) ** 1.2
    return wet, wind


def generate_scene(region: str, size: int, seed: int, start: date | None = None, end: date | None = None,
                   looks: float = 4.4, pixel_size: float = 10.0, revisit_days: int | None = None,
                   missing_rate: float = 0.04, calendar_shift_days: float | None = None,
                   edge_rate: float = 0.03, acquisition_dates: list[date] | None = None) -> Scene:
    """A synthetic scene of ``size`` x ``size`` pixels for ``region`` (see :data:`REGIONS`).

    ``start``/``end`` default to the region's season in 2022. ``calendar_shift_days`` moves the whole
    crop calendar; ``None`` draws it from the region's range (pass 0 for the nominal calendar).
    ``acquisition_dates`` replaces the simulated orbit plan by given dates (e.g. a real stack's);
    ``start``/``end`` then default to the first and last of them.
    """
    if acquisition_dates:
        start, end = start or min(acquisition_dates), end or max(acquisition_dates)
    spec, start, end = _check_inputs(region, size, start, end, looks, pixel_size, revisit_days, missing_rate)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(4)]
    layout_rng, calendar_rng, sensor_rng, noise_rng = streams
    shares = _perturbed_shares(layout_rng, spec.parcel_shares)
    objects = build_layout(layout_rng, spec.layout, shares, size, pixel_size)
    object_map = rasterize_objects(objects, size) + 1  # uncovered pixels (-1) become the verge (0)
    objects.insert(0, _background(objects, size))

    acq = sensor.plan_acquisitions(sensor_rng, start, end, revisit_days or spec.revisit_days,
                                   missing_rate, edge_rate, acquisition_dates)
    if len(acq.dates) < 2:
        raise UserError(f"season {start}..{end} holds fewer than 2 acquisitions; widen {{param:start}}/{{param:end}}", param="start")
    shift = (float(calendar_rng.uniform(-spec.shift_range, spec.shift_range))
             if calendar_shift_days is None else float(calendar_shift_days))
    days = np.asarray([d.toordinal() for d in acq.dates], dtype=np.float64)
    doy = np.asarray([d.timetuple().tm_yday for d in acq.dates], dtype=np.float64)
    wetness, wind = _scene_conditions(calendar_rng, spec, len(days))
    maker = _CurveMaker(calendar_rng, spec, days, doy, wetness, wind, (start.year, end.year), shift)
    early, late, fields = _object_curves(maker, objects)

    codes = np.asarray([o.code for o in objects], dtype=np.uint8)
    landcover = codes[object_map]
    vv, vh = _render(noise_rng, object_map, landcover, early, late, acq, looks, size, pixel_size)
    origin = _map_origin(layout_rng, spec, size, pixel_size)
    transform = (pixel_size, 0.0, origin[0], 0.0, -pixel_size, origin[1])
    _to_map(fields, transform)
    meta = _meta(spec, seed, start, end, looks, shift, acq, landcover, size)
    return Scene(vv_db=vv, vh_db=vh, dates=acq.dates, truth=(landcover == lc.RICE).astype(np.uint8),
                 landcover=landcover, landcover_names=dict(lc.LANDCOVER_NAMES), fields=fields,
                 crs=spec.epsg, transform=transform, meta=meta, object_map=object_map)


def _background(objects: list[SceneObject], size: int) -> SceneObject:
    """Grass verge filling whatever no other object covers (index 0, so others burn over it)."""
    rest = box(0, 0, size, size).difference(shapely.union_all([o.polygon for o in objects]))
    return SceneObject(rest, lc.GRASSLAND, -1, "verge")


def _object_curves(maker: _CurveMaker, objects: list[SceneObject]) -> tuple[np.ndarray, np.ndarray, list[Field]]:
    early, late, fields = [], [], []
    for obj in objects:
        a, b, sowings, system = maker.curves(obj)
        early.append(a)
        late.append(b)
        fields.append(Field(polygon=obj.polygon, landcover=obj.code, name=lc.LANDCOVER_NAMES[obj.code],
                            kind=obj.kind, sowing_dates=[date.fromordinal(int(round(s))) for s in sowings],
                            system=system))
    return np.asarray(early, dtype=np.float32), np.asarray(late, dtype=np.float32), fields


def _render(rng: np.random.Generator, object_map: np.ndarray, landcover: np.ndarray, early: np.ndarray,
            late: np.ndarray, acq: sensor.Acquisitions, looks: float, size: int,
            pixel_size: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel dB cubes: blended object curves + texture + geometry, speckled in linear power."""
    blend = 0.5 + 0.5 * np.tanh(_smooth_noise(rng, size, 2.5))  # (H, W) 0..1, early..late
    mean = early[object_map] * (1 - blend)[..., None, None] + late[object_map] * blend[..., None, None]
    cube = np.moveaxis(mean, (2, 3), (1, 0))  # (2, T, H, W)
    cube = cube + _texture(rng, landcover, size)[:, None] + acq.offset_db.T[:, :, None, None]
    inc = sensor.incidence_map(acq, size, pixel_size) - sensor.REFERENCE_INCIDENCE  # (T, 1, W)
    slope = _incidence_slope(landcover)  # (2, H, W)
    cube = cube + slope[:, None] * inc[None]
    linear = sensor.blur_mixed_pixels(np.power(np.float32(10.0), cube.astype(np.float32) / np.float32(10.0)))
    linear += sensor.NOISE_FLOOR_LINEAR
    linear *= sensor.speckle(rng, linear.shape, looks, sensor.SPECKLE_CORRELATION_SIGMA,
                             sensor.SPECKLE_POL_CORRELATION)
    out = (10.0 * np.log10(np.maximum(linear, 1e-10))).astype(np.float32)
    out[:, sensor.nodata_mask(acq, size)] = np.nan
    return out[0], out[1]


def _texture(rng: np.random.Generator, landcover: np.ndarray, size: int) -> np.ndarray:
    """(2, H, W) persistent within-object texture in dB, scaled by each cover's pixel_sd."""
    sd = np.full(landcover.shape, 0.5, dtype=np.float32)
    for code, cover in lc.STABLE_COVERS.items():
        sd[landcover == code] = cover.pixel_sd
    smooth = _smooth_noise(rng, size, 1.5)
    white = rng.standard_normal((2, size, size)).astype(np.float32)
    return sd[None] * (0.7 * smooth[None] + 0.7 * white)


def _incidence_slope(landcover: np.ndarray) -> np.ndarray:
    vv = np.full(landcover.shape, INCIDENCE_SLOPE["default"][0], dtype=np.float32)
    vh = np.full(landcover.shape, INCIDENCE_SLOPE["default"][1], dtype=np.float32)
    for code, (s_vv, s_vh) in INCIDENCE_SLOPE.items():
        if code != "default":
            vv[landcover == code], vh[landcover == code] = s_vv, s_vh
    return np.stack([vv, vh])


def _map_origin(rng: np.random.Generator, spec: Region, size: int, pixel: float) -> tuple[float, float]:
    """Upper-left corner in UTM near the region's rice area, snapped to the pixel grid."""
    dx, dy = rng.uniform(-20_000, 20_000, 2)
    x = round((spec.origin[0] + dx) / pixel) * pixel
    y = round((spec.origin[1] + dy) / pixel) * pixel
    return float(x), float(y + size * pixel / 2)


def _to_map(fields: list[Field], transform: tuple[float, ...]) -> None:
    a, _, c, _, e, f = transform
    for fld in fields:
        fld.polygon = shapely.affinity.affine_transform(fld.polygon, [a, 0.0, 0.0, e, c, f])


def _meta(spec: Region, seed: int, start: date, end: date, looks: float, shift: float,
          acq: sensor.Acquisitions, landcover: np.ndarray, size: int) -> dict:
    counts = np.bincount(landcover.ravel(), minlength=max(lc.LANDCOVER_NAMES) + 1) / landcover.size
    return {
        "region": spec.name, "description": spec.description, "seed": int(seed), "size": size,
        "start": start.isoformat(), "end": end.isoformat(), "looks": looks,
        "calendar": {"shift_days": round(shift, 2),
                     "rice_systems": {s.name: {"sowing_doys": list(s.sowing_doys),
                                               "inundation_doys": s.inundation_doys}
                                      for s in spec.rice_systems},
                     "other_crop_sowing_doys": {lc.LANDCOVER_NAMES[c]: list(d)
                                                for c, d in spec.crop_sowing_doys.items()}},
        "acquisitions": [{"date": d.isoformat(), "orbit": "ascending" if o == 0 else "descending",
                          "incidence_deg": round(float(i), 2), "missing": bool(m), "swath_edge": e is not None}
                         for d, o, i, m, e in zip(acq.dates, acq.orbit, acq.incidence, acq.missing, acq.edge)],
        "missing_dates": [d.isoformat() for d, m in zip(acq.dates, acq.missing) if m],
        "landcover_shares": {name: round(float(counts[code]), 4) for code, name in lc.LANDCOVER_NAMES.items()
                             if counts[code] > 0},
    }
