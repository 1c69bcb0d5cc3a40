"""The files analysts export, written here in each real naming scheme, read by `info` (and `map`) without --dates.

Where each scheme is documented: docs/catalogues.md ("Files you already have").
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from test_fetch_fixtures import run_backend

from backend.raster.series import detect

DATES = ("2022-01-04", "2022-01-16", "2022-01-28", "2022-02-09", "2022-02-21", "2022-03-05")
SIZE = 16
TRANSFORM = from_origin(545960.0, 1114060.0, 10.0, 10.0)
RNG = np.random.default_rng(7)
POWER = {pol: RNG.uniform(low, high, (len(DATES), SIZE, SIZE)).astype(np.float32)
         for pol, (low, high) in {"VV": (0.03, 0.3), "VH": (0.005, 0.05)}.items()}


def compact(date: str) -> str:
    return date.replace("-", "")


def snap_date(date: str) -> str:
    import datetime as dt

    return dt.date.fromisoformat(date).strftime("%d%b%Y")  # 04Jan2022


def write(path: Path, bands: list[np.ndarray], descriptions: list[str] | None = None, driver: str = "GTiff",
          tags: list[dict] | None = None, nodata: float | None = None, transform=TRANSFORM) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = bands[0].shape
    with rasterio.open(path, "w", driver=driver, width=width, height=height, count=len(bands), dtype="float32",
                       crs="EPSG:32648", transform=transform, nodata=nodata) as dst:
        for number, band in enumerate(bands, start=1):
            dst.write(band, number)
            if descriptions:
                dst.set_band_description(number, descriptions[number - 1])
            if tags:
                dst.update_tags(number, **tags[number - 1])
    return path


def db(values: np.ndarray) -> np.ndarray:
    return (10 * np.log10(values)).astype(np.float32)


# -- one writer per scheme; each returns the paths a user would give -----------------------------------
def gee_stack(folder: Path) -> list[str]:
    """ee.ImageCollection('COPERNICUS/S1_GRD').filter(...).toBands(): <system:index>_VV/_VH/_angle, in dB."""
    bands, names = [], []
    for t, date in enumerate(DATES):
        index = f"S1A_IW_GRDH_1SDV_{compact(date)}T224606_{compact(date)}T224631_041286_04E8C2_5F0A"
        for pol in ("VV", "VH"):
            bands.append(db(POWER[pol][t]))
            names.append(f"{index}_{pol}")
        bands.append(np.full((SIZE, SIZE), 39.5, np.float32))
        names.append(f"{index}_angle")
    return [str(write(folder / "gee_s1_grd_toBands.tif", bands, names))]


def gee_tiles(folder: Path) -> list[str]:
    """A large toBands() export, which Earth Engine splits into <name>-<row offset>-<col offset>.tif tiles."""
    with rasterio.open(gee_stack(folder / "whole")[0]) as whole:
        data, names = whole.read(), list(whole.descriptions)
    half = SIZE // 2
    paths = []
    for row in (0, half):
        for col in (0, half):
            tile = data[:, row:row + half, col:col + half]
            transform = TRANSFORM * rasterio.Affine.translation(col, row)
            paths.append(str(write(folder / f"S1_export-{row:010d}-{col:010d}.tif", list(tile), names,
                                   transform=transform)))
    return paths


def gee_split(folder: Path) -> list[str]:
    """The same, exported per polarization (.select('VV').toBands() and .select('VH').toBands())."""
    paths = []
    for pol in ("VV", "VH"):
        names = [f"S1A_IW_GRDH_1SDV_{compact(d)}T224606_{compact(d)}T224631_041286_04E8C2_5F0A_{pol}" for d in DATES]
        paths.append(str(write(folder / f"gee_{pol.lower()}.tif", [db(b) for b in POWER[pol]], names)))
    return paths


def hyp3_name(date: str, scale: str) -> str:
    return f"S1A_IW_{compact(date)}T224606_DVP_RTC10_G_g{scale}uned_5F0A"


def hyp3_product(folder: Path, date: str, t: int, scale: str) -> Path:
    """A HyP3 RTC product folder: <name>_VV.tif, <name>_VH.tif and layers that are not backscatter."""
    name = hyp3_name(date, scale)
    product = folder / name
    for pol in ("VV", "VH"):
        values = {"p": POWER[pol][t], "d": db(POWER[pol][t]), "a": np.sqrt(POWER[pol][t])}[scale]
        write(product / f"{name}_{pol}.tif", [values], nodata=0.0)
    write(product / f"{name}_ls_map.tif", [np.zeros((SIZE, SIZE), np.float32)])
    write(product / f"{name}_dem.tif", [np.full((SIZE, SIZE), 12.0, np.float32)])
    (product / f"{name}.README.md.txt").write_text("RTC product (test fixture)\n")
    return product


def hyp3_zips(folder: Path, scale: str = "p") -> list[str]:
    paths = []
    for t, date in enumerate(DATES):
        product = hyp3_product(folder / "unzipped", date, t, scale)
        archive = folder / f"{product.name}.zip"
        with zipfile.ZipFile(archive, "w") as zipped:
            for file in product.iterdir():
                zipped.write(file, f"{product.name}/{file.name}")
        paths.append(str(archive))
    return paths


def hyp3_folders(folder: Path, scale: str) -> list[str]:
    return [str(hyp3_product(folder, date, t, scale)) for t, date in enumerate(DATES)]


def opera_granules(folder: Path) -> list[str]:
    """OPERA RTC-S1 burst GeoTIFFs (linear gamma0), with the layover/shadow mask beside them."""
    paths = []
    for t, date in enumerate(DATES):
        stem = f"OPERA_L2_RTC-S1_T069-147170-IW1_{compact(date)}T224606Z_20231020T101010Z_S1A_30_v1.0"
        for pol in ("VV", "VH"):
            paths.append(str(write(folder / f"{stem}_{pol}.tif", [POWER[pol][t]], nodata=float("nan"))))
        write(folder / f"{stem}_mask.tif", [np.zeros((SIZE, SIZE), np.float32)])
    return [str(folder)]


def snap_geotiff(folder: Path) -> list[str]:
    """A SNAP collocated stack saved as GeoTIFF: Sigma0_VV_db_04Jan2022, ... (dB)."""
    bands, names = [], []
    for t, date in enumerate(DATES):
        for pol in ("VV", "VH"):
            bands.append(db(POWER[pol][t]))
            names.append(f"Sigma0_{pol}_db_{snap_date(date)}")
    return [str(write(folder / "subset_of_S1_stack.tif", bands, names))]


def dimap(folder: Path, name: str, date: str, t: int) -> Path:
    """A BEAM-DIMAP product: <name>.dim plus <name>.data/Gamma0_VV.img, Gamma0_VH.img (ENVI, linear)."""
    data = folder / f"{name}.data"
    for pol in ("VV", "VH"):
        write(data / f"Gamma0_{pol}.img", [POWER[pol][t]], driver="ENVI")
    write(data / "projectedLocalIncidenceAngle.img", [np.full((SIZE, SIZE), 40.0, np.float32)], driver="ENVI")
    start = __import__("datetime").date.fromisoformat(date).strftime("%d-%b-%Y").upper()
    (folder / f"{name}.dim").write_text(
        f'<?xml version="1.0" encoding="ISO-8859-1"?>\n<Dimap_Document name="{name}.dim">\n'
        f"  <Dataset_Id><DATASET_NAME>{name}</DATASET_NAME></Dataset_Id>\n"
        f"  <PRODUCT_SCENE_RASTER_START_TIME>{start} 22:46:06.000000</PRODUCT_SCENE_RASTER_START_TIME>\n"
        f"  <PRODUCT_SCENE_RASTER_STOP_TIME>{start} 22:46:31.000000</PRODUCT_SCENE_RASTER_STOP_TIME>\n"
        "</Dimap_Document>\n")
    return folder / f"{name}.dim"


def snap_dimap(folder: Path) -> list[str]:
    return [str(dimap(folder, f"S1A_IW_GRDH_1SDV_TC_{t}", date, t)) for t, date in enumerate(DATES)]


def openeo_per_date(folder: Path) -> list[str]:
    """openEO save_result(format='GTiff') of a cube with a time dimension: one file per date, bands VV, VH."""
    return [str(write(folder / f"openEO_{date}Z.tif", [POWER["VV"][t], POWER["VH"][t]], ["VV", "VH"]))
            for t, date in enumerate(DATES)]


def band_metadata(folder: Path) -> list[str]:
    """Sentinel Hub / openEO-style stacks per polarization whose dates are in band metadata only."""
    return [str(write(folder / f"s1_{pol}.tif", list(POWER[pol]),
                      tags=[{"DATETIME": f"{d}T22:46:06Z", "POLARIZATION": pol} for d in DATES]))
            for pol in ("VV", "VH")]


SCHEMES = {
    "gee-toBands-stack": (gee_stack, "dB"), "gee-toBands-split": (gee_split, "dB"),
    "gee-toBands-tiles": (gee_tiles, "dB"),
    "hyp3-zip-power": (hyp3_zips, "linear"),
    "hyp3-folder-db": (lambda f: hyp3_folders(f, "d"), "dB"),
    "hyp3-folder-amplitude": (lambda f: hyp3_folders(f, "a"), "amplitude"),
    "opera-rtc-s1": (opera_granules, "linear"), "snap-geotiff": (snap_geotiff, "dB"),
    "snap-beam-dimap": (snap_dimap, "linear"), "openeo-per-date": (openeo_per_date, "linear"),
    "band-metadata": (band_metadata, "linear"),
}


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_export_is_read_with_its_dates_and_values(scheme, tmp_path):
    writer, unit = SCHEMES[scheme]
    paths = writer(tmp_path / scheme)
    with detect(paths, require=("VV", "VH")) as series:
        assert {pol: [d.isoformat() for d in series.dates[pol]] for pol in series.pols} == \
            {"VV": list(DATES), "VH": list(DATES)}
        assert series.units == {"VV": unit, "VH": unit}
        for pol in ("VV", "VH"):
            np.testing.assert_allclose(series.read(pol), db(POWER[pol]), atol=1e-4)


@pytest.mark.parametrize("scheme", ["gee-toBands-stack", "hyp3-zip-power", "snap-beam-dimap", "openeo-per-date"])
def test_info_reads_the_export_without_dates_option(scheme, tmp_path):
    paths = SCHEMES[scheme][0](tmp_path / scheme)
    proc = run_backend("info", *paths)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["dates"] == {"VV": list(DATES), "VH": list(DATES)}


def test_map_reads_hyp3_zips_given_as_vv_and_vh(tmp_path):
    zips = hyp3_zips(tmp_path / "hyp3")
    out = tmp_path / "map"
    proc = run_backend("map", "--vv", *zips, "--vh", *zips, "--season", DATES[0], DATES[-1], "--model",
                       "phenology-rules", "--no-heatmap", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    run = json.loads((out / "run.json").read_text())
    assert len(run["inputs"]["files"]["VV"]) == len(DATES)
    assert all(f.startswith("/vsizip/") and f.endswith("_VV.tif") for f in run["inputs"]["files"]["VV"])


def test_unmatched_date_names_the_file_and_lists_the_schemes(tmp_path):
    paths = [str(write(tmp_path / f"S1_{pol}_04.01.2022.tif", [POWER[pol][0]])) for pol in ("VV", "VH")]
    proc = run_backend("info", *paths)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "S1_VV_04.01.2022.tif" in proc.stderr and "'04.01.2022' matches none of the supported schemes" in proc.stderr
    for source in ("Earth Engine", "HyP3", "OPERA", "SNAP", "openEO"):
        assert source in proc.stderr
