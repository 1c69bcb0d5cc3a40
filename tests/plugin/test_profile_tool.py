"""Temporal profile: a click reads VV and VH through QGIS's providers, in dB, with probability and season."""

import json
import math

from conftest import DATES, plugin_package, write_series
from qgis.core import QgsPointXY, QgsProject, QgsRasterLayer


def test_click_plots_vv_vh_in_db_with_probability(qgis_iface, qgis_new_project, tmp_path, artifacts_dir):
    plugin_package()
    from s1ricemapper.plugin.profile_tool import TemporalProfileTool

    project = QgsProject.instance()
    vv = QgsRasterLayer(str(write_series(tmp_path / "S1_VV.tif", -8.0, size=16)), "S1 VV")
    vh = QgsRasterLayer(str(write_series(tmp_path / "S1_VH.tif", -15.0, size=16, seed=1)), "S1 VH")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    probability = write_series(run_dir / "probability.tif", -3.0, size=16, dates=["x"], linear=True)
    (run_dir / "run.json").write_text(json.dumps({"season": ["2022-04-10", "2022-05-30"], "as_of": None}))
    older_dir = tmp_path / "older_run"
    older_dir.mkdir()
    older = write_series(older_dir / "probability.tif", -1.0, size=16, dates=["x"], linear=True, seed=5)
    project.addMapLayers([vv, vh, QgsRasterLayer(str(older), "probability")])
    group = project.layerTreeRoot().insertGroup(0, "Rice map latest")  # the newest run's group is on top
    latest = QgsRasterLayer(str(probability), "probability")
    project.addMapLayer(latest, False)
    group.addLayer(latest)
    canvas = qgis_iface.mapCanvas()
    canvas.setDestinationCrs(vv.crs())
    tool = TemporalProfileTool(qgis_iface)
    tool.show_at(QgsPointXY(580085.0, 1149915.0))  # pixel (8, 8)
    profile = tool.last_profile
    assert [d.isoformat() for d, _ in profile.series["VV"]] == DATES
    vv_db = [v for _, v in profile.series["VV"]]
    vh_db = [v for _, v in profile.series["VH"]]
    assert all(-16 < v < 0 for v in vv_db), vv_db  # linear power came back as dB
    assert sum(vv_db) / len(vv_db) - sum(vh_db) / len(vh_db) > 4  # VH darker than VV
    assert math.isclose(profile.probability, pixel_value(probability, 8, 8), rel_tol=1e-6)
    assert profile.season[0].isoformat() == "2022-04-10"
    assert "rice probability" in tool.window.chart.title
    source = tool.window.source_label.text()  # the window says which probability layer it read
    assert "Rice map latest › probability" in source and str(probability) in source, source
    tool.window.grab().save(str(artifacts_dir / "temporal_profile.png"))
    tool.close_plot()
    tool.deleteLater()


def pixel_value(path, row: int, col: int) -> float:
    import struct

    from osgeo import gdal

    dataset = gdal.Open(str(path))  # keep the dataset alive while its band is read
    raw = dataset.GetRasterBand(1).ReadRaster(col, row, 1, 1, buf_type=gdal.GDT_Float32)
    return struct.unpack("<f", raw)[0]
