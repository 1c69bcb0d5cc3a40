"""Fine-tune panel: a polygon label layer becomes a new model that the Map rice dialog can select."""

import json

import pytest
from conftest import REPO, plugin_package, wait_until
from qgis.core import QgsProject, QgsRasterLayer, QgsVectorLayer
from qgis.PyQt.QtCore import QCoreApplication, QDate, QEvent
from test_map_dialog import fresh_form_memory, make_dialog  # noqa: F401 (autouse: no remembered choices)


@pytest.fixture
def new_dock(qgis_iface):
    """Builds FineTuneDocks and deletes them after the test, so no dock outlives it."""
    plugin_package()
    from s1ricemapper.plugin.finetune_dock import FineTuneDock

    docks = []

    def build():
        docks.append(FineTuneDock(qgis_iface))
        return docks[-1]

    yield build
    for dock in docks:
        dock.shutdown()
        dock.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)


def test_finetune_from_polygons_yields_selectable_model(qgis_iface, qgis_new_project, synthetic_scene, user_models,
                                                         backend_python_setting, artifacts_dir, new_dock):
    project = QgsProject.instance()
    project.addMapLayer(QgsRasterLayer(str(synthetic_scene / "VV.tif"), "VV"))
    project.addMapLayer(QgsRasterLayer(str(synthetic_scene / "VH.tif"), "VH"))
    labels = QgsVectorLayer(str(synthetic_scene / "labels.gpkg"), "fields", "ogr")
    project.addMapLayer(labels)
    dialog = make_dialog(qgis_iface)
    dock = new_dock()
    dock.model_created.connect(lambda _name: dialog.load_models())
    dock.refresh()
    assert wait_until(lambda: not dock.busy() and dock.baseModel.count() > 0, 90)
    assert dock.labelLayer.currentLayer() is labels
    assert dock.classField.currentField() == "class"  # guessed from the field names
    assert dock.riceValues.text() == "rice"  # guessed from the field's values (walkthrough defect 5)
    default = json.loads((REPO / "models" / "default.json").read_text())["default"]
    assert dock.baseModel.currentData() == default and "recommended" in dock.baseModel.currentText()
    assert all(c.arch not in ("random_forest", "phenology_rules") for c in dock.cards)
    dock.baseModel.setCurrentIndex(dock.baseModel.findData("tiny-unet"))  # fast on 2 shared cores
    dock.epochsSpin.setValue(2)
    dock.patchSpin.setValue(32)
    dock.modelName.setText("plugin-test-fte")
    assert dock.timeShiftSpin.text() == "default" and "--time-shift" not in dock.build_args()
    dock.timeShiftSpin.setValue(3)
    assert "--season" not in dock.build_args()  # automatic: the backend chooses
    dock.seasonAuto.setChecked(False)
    dock.seasonStart.setDate(QDate(2022, 4, 1))
    dock.seasonEnd.setDate(QDate(2022, 8, 31))
    assert dock.build_args()[-3:] == ["--season", "2022-04-01", "2022-08-31"]
    values = []
    dock.progressBar.valueChanged.connect(values.append)
    dock.start()
    assert dock.busy() and not dock.is_running()  # the backend checks first (finetune --check-only)
    texts = set()
    assert wait_until(lambda: texts.add(dock.statusLabel.text()) or not dock.busy(), 180), dock.statusLabel.text()
    assert any("Checking" in t for t in texts), texts
    assert any(", batch " in t and " of " in t for t in texts), texts  # the backend's batch events, not an estimate
    assert dock.last_model == "plugin-test-fte", dock.statusLabel.text()
    card = json.loads((user_models / "plugin-test-fte" / "card.json").read_text())
    assert card["training"]["time_shift"] == 3  # the panel's setting reached the backend
    assert card["training"]["seasons"] == [["2022-04-01", "2022-08-31"]]
    assert any(0 < v < 1000 for v in values), values  # the bar moved during training, not only at the end
    loss_points = dock.chart.series[0].points
    assert [x for x, _ in loss_points] == [1.0, 2.0]
    dock.resize(380, 720)
    dock.grab().save(str(artifacts_dir / "finetune_panel.png"))
    assert wait_until(lambda: dialog.pending == 0 and dialog.modelCombo.findData("plugin-test-fte") >= 0, 90)
    dialog.shutdown()


def test_label_layer_without_class_field_is_explained(qgis_iface, qgis_new_project, synthetic_scene, new_dock):
    project = QgsProject.instance()
    project.addMapLayer(QgsRasterLayer(str(synthetic_scene / "VV.tif"), "VV"))
    project.addMapLayer(QgsRasterLayer(str(synthetic_scene / "VH.tif"), "VH"))
    points = QgsVectorLayer("Point?crs=EPSG:32648", "digitized", "memory")
    project.addMapLayer(points)
    dock = new_dock()
    dock.labelLayer.setLayer(points)
    dock.riceValues.setText("rice")
    dock.start()
    assert not dock.is_running()
    assert "class field" in dock.statusLabel.text()


def test_training_clock_moves_within_an_epoch():
    """Between the backend's per-epoch reports the bar advances and the time left is given."""
    plugin_package()
    from s1ricemapper.plugin.finetune_dock import TrainingClock

    clock = TrainingClock(epochs=10, started=100.0)
    assert clock.fraction(110.0) is None and "after the first epoch" in clock.text(110.0)
    clock.epoch_done(120.0)  # 20 s per epoch
    assert clock.fraction(130.0) == pytest.approx(0.15)  # half-way through epoch 2
    assert clock.seconds_left(130.0) == pytest.approx(170.0)
    assert "epoch 2 of 10" in clock.text(130.0) and "left" in clock.text(130.0)
    assert clock.fraction(500.0) < 0.2  # a slow epoch never shows as finished before its report
    clock.batch = (3, 4)
    assert clock.fraction(130.0) == pytest.approx(0.175) and "batch 3 of 4" in clock.text(130.0)


def test_loss_axis_never_negative(qgis_iface):
    plugin_package()
    from s1ricemapper.plugin.charts import LineChart, Series

    chart = LineChart(left_floor=0.0)
    chart.add_series(Series("loss", "#d95f02", [(1, 0.01), (2, 0.6)]))
    low, high = chart._left_range()
    assert low == 0.0 and high > 0.6


def test_backend_check_refuses_before_training_in_the_panels_words(qgis_iface, qgis_new_project, synthetic_scene,
                                                                   user_models, backend_python_setting, new_dock):
    """`finetune --check-only` runs first: a refusal names the field by its label and outlines it."""
    project = QgsProject.instance()
    project.addMapLayer(QgsRasterLayer(str(synthetic_scene / "VV.tif"), "VV"))
    project.addMapLayer(QgsRasterLayer(str(synthetic_scene / "VH.tif"), "VH"))
    project.addMapLayer(QgsVectorLayer(str(synthetic_scene / "labels.gpkg"), "fields", "ogr"))
    dock = new_dock()
    dock.refresh()
    assert wait_until(lambda: not dock.busy() and dock.baseModel.count() > 0, 90)
    dock.riceValues.setText("paddy")  # not a value of the class field: every label is non-rice
    dock.modelName.setText("plugin-test-refused")
    dock.start()
    assert wait_until(lambda: not dock.busy(), 90), dock.statusLabel.text()
    status = dock.statusLabel.toolTip() or dock.statusLabel.text()
    assert "non-rice" in status and "--rice-values" not in status and "'" in status, status
    assert dock.run is None and "border" in dock.labelLayer.styleSheet()
    assert not (user_models / "plugin-test-refused").exists()
    dock.riceValues.setText("rice")
    dock.epochsSpin.setValue(1)
    dock.baseModel.setCurrentIndex(dock.baseModel.findData("tiny-unet"))
    dock.start()  # accepted: the outline goes, training starts; cancelled at once
    assert wait_until(lambda: dock.is_running(), 90), dock.statusLabel.text()
    assert "border" not in dock.labelLayer.styleSheet()
    dock.cancel()
    assert wait_until(lambda: not dock.busy(), 60)
