"""In-memory synthetic scenes: determinism, every region, truth vs polygons, speckle statistics."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from backend.errors import UserError
from backend.synthetic import REGIONS, generate_scene
from backend.synthetic import landcover as lc
from backend.synthetic.sensor import speckle


def test_same_seed_same_scene_and_different_seed_differs() -> None:
    a = generate_scene("mekong", 48, seed=7)
    b = generate_scene("mekong", 48, seed=7)
    c = generate_scene("mekong", 48, seed=8)
    np.testing.assert_array_equal(a.vv_db, b.vv_db)
    np.testing.assert_array_equal(a.vh_db, b.vh_db)
    np.testing.assert_array_equal(a.truth, b.truth)
    assert a.dates == b.dates
    assert not np.array_equal(a.landcover, c.landcover)


@pytest.mark.parametrize("region", sorted(REGIONS))
def test_every_region_gives_a_complete_scene(region: str) -> None:
    scene = generate_scene(region, 64, seed=3)
    t = len(scene.dates)
    assert scene.vv_db.shape == scene.vh_db.shape == (t, 64, 64)
    assert scene.vv_db.dtype == np.float32 and scene.truth.dtype == np.uint8
    assert t >= 10 and scene.dates == sorted(scene.dates)
    assert 32601 <= scene.crs <= 32660  # UTM north
    assert set(np.unique(scene.truth)) <= {0, 1}
    valid = scene.vv_db[np.isfinite(scene.vv_db)]
    assert -40 < float(np.median(valid)) < 0
    assert scene.meta["region"] == region
    assert all(code in scene.landcover_names for code in np.unique(scene.landcover))


def test_truth_matches_rasterized_rice_polygons() -> None:
    from rasterio.features import rasterize
    from rasterio.transform import Affine

    scene = generate_scene("korea", 96, seed=11)
    rice = [f.polygon for f in scene.fields if f.is_rice and not f.polygon.is_empty]
    assert rice, "a Korea scene should hold rice parcels"
    burned = rasterize(((p, 1) for p in rice), out_shape=scene.truth.shape,
                       transform=Affine(*scene.transform), fill=0, dtype="uint8")
    agreement = float((burned == scene.truth).mean())
    assert agreement > 0.99, agreement


def test_rice_fields_have_sowing_dates_in_or_near_the_season() -> None:
    scene = generate_scene("korea", 64, seed=2, start=date(2022, 3, 1), end=date(2022, 10, 31),
                           calendar_shift_days=0)
    rice = [f for f in scene.fields if f.is_rice]
    assert rice
    sow_2022 = [d for f in rice for d in f.sowing_dates if d.year == 2022]
    assert sow_2022 and all(date(2022, 5, 1) <= d <= date(2022, 6, 20) for d in sow_2022), sow_2022


def test_speckle_has_the_requested_equivalent_number_of_looks() -> None:
    rng = np.random.default_rng(0)
    for looks in (1.0, 4.4, 10.0):
        sample = speckle(rng, (200_000,), looks)
        enl = sample.mean() ** 2 / sample.var()
        assert abs(enl - looks) / looks < 0.05, (looks, enl)


def test_correlated_speckle_keeps_looks_and_neighbours_correlate() -> None:
    field = speckle(np.random.default_rng(1), (8, 128, 128), 4.4, correlation_sigma=0.75)
    fluct = field - 1.0
    enl = 1.0 / fluct.var()
    lag1 = float((fluct[..., 1:] * fluct[..., :-1]).mean() / fluct.var())
    assert abs(field.mean() - 1) < 0.01
    assert abs(enl - 4.4) / 4.4 < 0.08, enl
    assert 0.55 < lag1 < 0.72, lag1  # real An Giang cubes: 0.59-0.71


def test_speckle_shares_the_requested_correlation_between_polarizations() -> None:
    pair = speckle(np.random.default_rng(2), (2, 4, 96, 96), 4.4, correlation_sigma=0.75, pol_correlation=0.3)
    vv, vh = pair[0] - 1, pair[1] - 1
    corr = float((vv * vh).mean() / np.sqrt(vv.var() * vh.var()))
    assert abs(corr - 0.3) < 0.05, corr
    assert abs(1 / vv.var() - 4.4) / 4.4 < 0.08


def test_stable_cover_temporal_enl_close_to_looks() -> None:
    # orchard pixels over time: the level is stable, so the temporal ENL is set by speckle (+ small terms)
    scene = generate_scene("mekong", 96, seed=4, looks=4.4, missing_rate=0.0, edge_rate=0.0)
    field_mask = scene.landcover == lc.ORCHARD
    assert field_mask.sum() > 30
    linear = 10 ** (scene.vv_db[:, field_mask] / 10)  # (T, N): temporal samples of a stable cover
    ratio = linear / linear.mean(axis=0, keepdims=True)
    enl = 1.0 / ratio.var()
    assert 2.5 < enl < 6.0, enl


def test_missing_acquisitions_are_nan_frames() -> None:
    scene = generate_scene("mekong", 32, seed=1, missing_rate=0.3, edge_rate=0.0)
    missing = set(scene.meta["missing_dates"])
    assert missing
    for i, d in enumerate(scene.dates):
        assert np.isnan(scene.vv_db[i]).all() == (d.isoformat() in missing)


def test_looks_change_speckle_not_layout() -> None:
    few = generate_scene("sacramento", 48, seed=5, looks=1.0)
    many = generate_scene("sacramento", 48, seed=5, looks=50.0)
    np.testing.assert_array_equal(few.truth, many.truth)
    assert np.nanstd(np.diff(few.vh_db, axis=0)) > np.nanstd(np.diff(many.vh_db, axis=0))


@pytest.mark.parametrize("kwargs, fragment", [
    ({"region": "mars"}, "mekong"),
    ({"size": 4}, "--size"),
    ({"start": date(2022, 6, 1), "end": date(2022, 5, 1)}, "--end"),
    ({"looks": 0}, "--looks"),
    ({"missing_rate": 1.5}, "missing_rate"),
])
def test_bad_parameters_raise_user_errors(kwargs: dict, fragment: str) -> None:
    args = {"region": "korea", "size": 32, "seed": 0, **kwargs}
    with pytest.raises(UserError, match=fragment):
        generate_scene(**args)
