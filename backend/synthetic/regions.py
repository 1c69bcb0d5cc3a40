"""Region presets: rice calendars, crop mix, field geometry and map grid of each synthetic region.

Day-of-year (``doy``) values are nominal; each scene shifts the whole calendar
(``calendar_shift_days``), each block of fields shifts again (``zone_sd``), and each field jitters
(``field_sd``), so a model trained on many scenes sees many calendars, not one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from backend.synthetic import landcover as lc


@dataclass(frozen=True)
class RiceSystem:
    """A farming system: sowing days of its crops each year and optional seasonal inundation."""

    name: str
    share: float
    sowing_doys: tuple[int, ...]
    inundation_doys: tuple[int, int] | None = None  # field under river/winter flood (may pass 365)
    cycle_stretch: tuple[float, ...] | None = None  # per sowing: season-specific crop duration


@dataclass(frozen=True)
class Layout:
    """Field geometry in metres: blocks between canals/roads, split into parcels."""

    field_width: tuple[float, float]  # parcel width along the canal
    block_depth: tuple[float, float]  # parcel length, canal to canal
    cross_spacing: tuple[float, float]  # distance between cross roads
    canal_width: tuple[float, float]
    road_width: tuple[float, float]
    canal_fraction: float  # share of block boundaries that are canals (others are roads)
    rotation_deg: tuple[float, float]
    bank_prob: float = 0.0  # probability that a block starts with a settlement/orchard bank
    bank_depth: tuple[float, float] = (30.0, 70.0)
    bank_classes: dict[int, float] = field(default_factory=dict)
    river_prob: float = 0.0
    river_width: tuple[float, float] = (100.0, 300.0)
    patches_per_km2: dict[int, float] = field(default_factory=dict)  # blobs: forest, ponds, villages
    patch_radius: tuple[float, float] = (60.0, 250.0)
    block_coherence: float = 0.7  # chance a parcel takes its block's dominant class


@dataclass(frozen=True)
class Region:
    name: str
    description: str
    epsg: int
    origin: tuple[float, float]  # approximate UTM easting/northing of the region's rice area
    season: tuple[tuple[int, int], tuple[int, int]]  # default (month, day) start and end
    rice_template: lc.CycleTemplate
    rice_systems: tuple[RiceSystem, ...]
    parcel_shares: dict[int, float]
    crop_sowing_doys: dict[int, tuple[int, ...]]
    layout: Layout
    shift_range: float = 12.0  # scene-wide calendar shift drawn from +-shift_range days
    zone_sd: float = 5.0
    field_sd: float = 4.0
    stretch_range: tuple[float, float] = (0.93, 1.08)
    revisit_days: int = 12
    wet_prob: float = 0.25

    def default_season(self, year: int = 2022) -> tuple[date, date]:
        (m0, d0), (m1, d1) = self.season
        return date(year, m0, d0), date(year, m1, d1)


MEKONG = Region(
    name="mekong",
    description="tropical multi-season rice (An Giang-like): dike-protected triple crop and "
                "double-to-triple crop with flood-season inundation; small strip parcels along canals",
    epsg=32648, origin=(530_000.0, 1_130_000.0), season=((1, 1), (12, 31)),
    rice_template=lc.RICE_MEKONG,
    rice_systems=(
        # winter-spring (Dec), summer-autumn (Apr), autumn-winter (Aug) behind high dikes
        RiceSystem("dike_triple", 0.5, (105, 226, 347), cycle_stretch=(1.0, 0.97, 1.15)),
        # spring (Mar), summer (late Jun), flood season Oct-Nov, winter-spring sown after recession
        RiceSystem("flood_season", 0.5, (76, 167, 327), inundation_doys=(270, 322),
                   cycle_stretch=(0.95, 1.0, 1.0)),
    ),
    parcel_shares={lc.RICE: 0.86, lc.ORCHARD: 0.05, lc.MAIZE: 0.04, lc.GRASSLAND: 0.03, lc.BARE_SOIL: 0.02},
    crop_sowing_doys={lc.MAIZE: (20, 150)},
    layout=Layout(field_width=(20, 60), block_depth=(150, 450), cross_spacing=(500, 1400),
                  canal_width=(8, 20), road_width=(5, 10), canal_fraction=0.7, rotation_deg=(0, 180),
                  bank_prob=0.3, bank_classes={lc.ORCHARD: 0.6, lc.BUILT_UP: 0.4},
                  river_prob=0.35, river_width=(150, 400),
                  patches_per_km2={lc.ORCHARD: 0.4, lc.BUILT_UP: 0.2, lc.WATER_CALM: 0.2},
                  patch_radius=(40, 150)),
    shift_range=10.0, zone_sd=6.0, field_sd=4.0, stretch_range=(0.95, 1.05),
    wet_prob=0.35,
)

KOREA = Region(
    name="korea",
    description="transplanted paddy (Korea-like): puddling and flooding in May-June, harvest in October; "
                "small consolidated rectangular paddies, forested hills",
    epsg=32652, origin=(310_000.0, 3_963_000.0), season=((4, 1), (11, 15)),
    rice_template=lc.RICE_TRANSPLANTED,
    rice_systems=(RiceSystem("transplanted", 1.0, (145,)),),
    parcel_shares={lc.RICE: 0.72, lc.SOYBEAN: 0.08, lc.BARLEY: 0.06, lc.GRASSLAND: 0.06,
                   lc.BARE_SOIL: 0.04, lc.ORCHARD: 0.04},
    crop_sowing_doys={lc.SOYBEAN: (160,), lc.BARLEY: (295,)},
    layout=Layout(field_width=(25, 45), block_depth=(80, 130), cross_spacing=(300, 700),
                  canal_width=(4, 8), road_width=(4, 8), canal_fraction=0.4, rotation_deg=(0, 180),
                  bank_prob=0.05, bank_classes={lc.BUILT_UP: 0.6, lc.ORCHARD: 0.4},
                  patches_per_km2={lc.FOREST: 0.8, lc.BUILT_UP: 0.3, lc.WATER_CALM: 0.15},
                  patch_radius=(60, 250)),
    shift_range=10.0, zone_sd=5.0, field_sd=4.0, stretch_range=(0.95, 1.06),
)

ARKANSAS = Region(
    name="arkansas",
    description="dry drill-seeded, delayed-flood rice (Arkansas-like) in rotation with soybean, "
                "maize and cotton; large rectangular fields",
    epsg=32615, origin=(633_000.0, 3_818_000.0), season=((3, 15), (10, 31)),
    rice_template=lc.RICE_DRY_SEEDED,
    rice_systems=(RiceSystem("dry_seeded", 1.0, (110,)),),
    parcel_shares={lc.RICE: 0.42, lc.SOYBEAN: 0.28, lc.MAIZE: 0.1, lc.COTTON: 0.1, lc.GRASSLAND: 0.05,
                   lc.BARE_SOIL: 0.05},
    crop_sowing_doys={lc.SOYBEAN: (130,), lc.MAIZE: (95,), lc.COTTON: (125,)},
    layout=Layout(field_width=(250, 700), block_depth=(350, 800), cross_spacing=(800, 1600),
                  canal_width=(6, 12), road_width=(6, 12), canal_fraction=0.25, rotation_deg=(-2, 2),
                  patches_per_km2={lc.FOREST: 0.3, lc.WATER_OPEN: 0.15, lc.BUILT_UP: 0.1},
                  patch_radius=(80, 300), block_coherence=0.3),
    shift_range=14.0, zone_sd=7.0, field_sd=5.0,
)

SACRAMENTO = Region(
    name="sacramento",
    description="water-seeded, continuously flooded rice (Sacramento Valley-like), optional winter "
                "flooding for straw decomposition; large fields, orchards nearby",
    epsg=32610, origin=(586_000.0, 4_339_000.0), season=((4, 1), (10, 31)),
    rice_template=lc.RICE_WATER_SEEDED,
    rice_systems=(RiceSystem("water_seeded", 0.6, (130,)),
                  RiceSystem("water_seeded_winter_flood", 0.4, (130,), inundation_doys=(320, 410))),
    parcel_shares={lc.RICE: 0.65, lc.ORCHARD: 0.1, lc.GRASSLAND: 0.1, lc.MAIZE: 0.08, lc.BARE_SOIL: 0.07},
    crop_sowing_doys={lc.MAIZE: (120,)},
    layout=Layout(field_width=(250, 700), block_depth=(400, 800), cross_spacing=(800, 1600),
                  canal_width=(6, 15), road_width=(6, 12), canal_fraction=0.5, rotation_deg=(-2, 2),
                  patches_per_km2={lc.ORCHARD: 0.2, lc.WATER_CALM: 0.1, lc.BUILT_UP: 0.1},
                  patch_radius=(80, 300), block_coherence=0.5),
    shift_range=12.0, zone_sd=5.0, field_sd=4.0, wet_prob=0.1,
)

# Mekong Delta double and triple rice, for cropping intensity and transplanting dates (docs/seasons.md):
# triple crop behind high dikes: Winter-Spring sown late Nov-Dec, Summer-Autumn Apr, Autumn-Winter
# late Jul-Aug; double crop where the flood season (Aug/Sep-Nov) leaves fields inundated: Winter-Spring
# mid-Dec and Summer-Autumn Apr-May only (Kontgis et al. 2015; Nguyen et al. 2016; Clauss et al. 2018).
DELTA = Region(
    name="delta",
    description="Mekong Delta multi-crop rice (held out from training): triple crop behind high dikes, double "
                "crop with flood-season inundation, orchards and upland crops",
    epsg=32648, origin=(560_000.0, 1_160_000.0), season=((1, 1), (12, 31)),
    rice_template=lc.RICE_MEKONG,
    rice_systems=(
        RiceSystem("triple", 0.5, (95, 212, 334), cycle_stretch=(1.0, 0.97, 1.12)),
        RiceSystem("double", 0.5, (112, 338), inundation_doys=(245, 330), cycle_stretch=(1.0, 1.1)),
    ),
    parcel_shares={lc.RICE: 0.78, lc.ORCHARD: 0.1, lc.MAIZE: 0.06, lc.GRASSLAND: 0.04, lc.BARE_SOIL: 0.02},
    crop_sowing_doys={lc.MAIZE: (30, 160)},
    layout=MEKONG.layout,
    shift_range=8.0, zone_sd=5.0, field_sd=4.0, stretch_range=(0.95, 1.05), wet_prob=0.3,
)

REGIONS: dict[str, Region] = {r.name: r for r in (KOREA, ARKANSAS, SACRAMENTO, MEKONG, DELTA)}
