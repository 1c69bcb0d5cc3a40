"""Layers not backed by files are exported for the backend, keeping the band dates the reader needs."""

import json

from conftest import DATES, plugin_package, run_backend, write_series
from qgis.core import QgsFeature, QgsGeometry, QgsPointXY, QgsRasterLayer, QgsVectorLayer


def test_in_memory_raster_is_exported_with_its_dates(qgis_app, tmp_path):
    plugin_package()
    from s1ricemapper.plugin.layer_inputs import layer_file, raster_file_for

    source = write_series("/vsimem/s1rm_test_VV.tif", -9.0, size=16)  # readable by QGIS, not a file on disk
    layer = QgsRasterLayer(str(source), "VV in memory")
    assert layer.isValid() and layer_file(layer) is None
    exported = raster_file_for(layer)
    assert exported.endswith(".tif")
    vh = write_series(tmp_path / "VH.tif", -16.0, size=16, seed=1)
    done = run_backend("info", "--vv", exported, "--vh", str(vh), "--progress", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    info = json.loads(done.stdout.strip().splitlines()[-1])
    assert info["dates"]["VV"] == DATES  # band descriptions survived the export


def test_memory_vector_layer_is_exported_to_geopackage(qgis_app):
    plugin_package()
    from s1ricemapper.plugin.layer_inputs import vector_file_for

    layer = QgsVectorLayer("Point?crs=EPSG:32648&field=class:string", "digitized", "memory")
    feature = QgsFeature(layer.fields())
    feature.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(580085.0, 1149915.0)))
    feature.setAttribute("class", "rice")
    layer.dataProvider().addFeatures([feature])
    exported = QgsVectorLayer(vector_file_for(layer), "exported", "ogr")
    assert exported.isValid() and exported.featureCount() == 1
    assert next(exported.getFeatures())["class"] == "rice"
