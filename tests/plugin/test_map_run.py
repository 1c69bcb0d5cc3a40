"""A full "Map rice" run through the real backend: styled layers, metrics, a refused second run, cancel."""

import pytest
from conftest import plugin_package, render_map, wait_until, write_series
from qgis.core import QgsLayerTreeModel, QgsProject, QgsRasterLayer, QgsVectorLayer
from qgis.gui import QgsLayerTreeView
from test_map_dialog import fresh_form_memory, make_dialog  # noqa: F401 (autouse: no remembered choices)


def add_layer(layer):
    assert layer.isValid(), layer.source()
    QgsProject.instance().addMapLayer(layer)
    return layer


@pytest.fixture
def scene_dialog(qgis_iface, qgis_new_project, synthetic_scene, user_models, backend_python_setting, tmp_path):
    add_layer(QgsRasterLayer(str(synthetic_scene / "VV.tif"), "VV"))
    add_layer(QgsRasterLayer(str(synthetic_scene / "VH.tif"), "VH"))
    dialog = make_dialog(qgis_iface)
    assert wait_until(lambda: dialog.pending == 0 and dialog.modelCombo.count() > 0, 90)
    dialog.modelCombo.setCurrentIndex(dialog.modelCombo.findData("tiny-unet"))  # fast on 2 shared cores
    dialog.outputFolder.setFilePath(str(tmp_path / "maps"))
    dialog.tileSpin.setValue(32)
    dialog.overlapSpin.setValue(8)
    yield dialog
    dialog.shutdown()


def color_distance(a: str, b: str) -> float:
    """Euclidean distance of two #rrggbb colours in RGB (0-441)."""
    rgb = [tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in (a, b)]
    return sum((x - y) ** 2 for x, y in zip(*rgb)) ** 0.5


def palette(layer) -> dict:
    return {c.value: c.color.name() for c in layer.renderer().classes()}


def test_full_run_adds_styled_layers_and_metrics(qgis_iface, scene_dialog, synthetic_scene, artifacts_dir):
    dialog = scene_dialog
    labels = add_layer(QgsVectorLayer(str(synthetic_scene / "labels.gpkg"), "labels", "ogr"))
    dialog.referenceCheck.setChecked(True)
    dialog.referenceLayer.setLayer(labels)
    dialog.classField.setField("class")
    dialog.riceValue.setText("rice")
    assert dialog.modelCombo.currentData() == "tiny-unet"
    assert dialog.fusionScheme.currentData() == "data"
    schemes_with_models = {card.scheme for card in dialog.cards}
    for index in range(dialog.fusionScheme.count()):  # only options backed by a model can be chosen
        enabled = dialog.fusionScheme.model().item(index).isEnabled()
        assert enabled == (dialog.fusionScheme.itemData(index) in schemes_with_models)
        if not enabled:
            assert "no installed model" in dialog.fusionScheme.itemData(index, 3)  # Qt.ToolTipRole
    dialog.grab().save(str(artifacts_dir / "map_dialog.png"))
    dialog.start_run()
    assert dialog.is_running()
    first_job = dialog.job
    dialog.start_run()  # a second run while one runs is refused, with a message
    assert dialog.job is first_job and "already" in dialog.statusLabel.text()
    assert any("already" in m for m in qgis_iface.messageBar().get_messages(1))  # Qgis.Warning
    assert wait_until(lambda: not dialog.is_running(), 120), dialog.statusLabel.text()
    assert dialog.last_group is not None, dialog.statusLabel.text()
    assert dialog.last_group.name().startswith("Rice map ")
    layers = {node.layer().name(): node.layer() for node in dialog.last_group.findLayers()}
    assert set(layers) == {"rice", "probability", "heatmap", "error"}
    kinds = {name: layer.renderer().type() for name, layer in layers.items()}
    assert kinds == {"rice": "paletted", "error": "paletted", "probability": "singlebandpseudocolor",
                     "heatmap": "singlebandpseudocolor"}
    assert palette(layers["rice"])[1] == "#4daf4a"
    order = [node.layer().name() for node in dialog.last_group.findLayers()]
    assert order.index("heatmap") < order.index("probability")  # above it: ticking the heat map shows it
    assert not dialog.last_group.findLayer(layers["heatmap"].id()).isVisible()
    assert dialog.last_group.isExpanded()
    ramp = layers["probability"].renderer().shader().rasterShaderFunction().colorRampItemList()
    assert min(color_distance(item.color.name(), "#4daf4a") for item in ramp) > 80  # rice stands out
    assert set(palette(layers["error"])) == {1, 2, 3, 4}
    success = " ".join(qgis_iface.messageBar().get_messages(3))  # Qgis.Success
    assert "Rice area" in success and "F1" in success and "IoU" in success, success
    render_map([layers["error"], layers["rice"], layers["probability"]], artifacts_dir / "map_result.png")


def test_cancel_leaves_no_layers_and_no_files(qgis_iface, scene_dialog, tmp_path):
    dialog = scene_dialog
    big = tmp_path / "big"
    big.mkdir()
    dialog.set_files("VV", [str(write_series(big / "VV.tif", -9.0, size=256))])
    dialog.set_files("VH", [str(write_series(big / "VH.tif", -16.0, size=256, seed=1))])
    assert wait_until(lambda: dialog.pending == 0, 60)
    dialog.overlapSpin.setValue(16)  # 16 px stride: hundreds of tiles, so the cancel lands mid-run
    layers_before = set(QgsProject.instance().mapLayers())
    dialog.start_run()
    assert wait_until(lambda: dialog.progressBar.value() > 0, 60), dialog.statusLabel.text()
    dialog.cancel_run()
    assert wait_until(lambda: not dialog.is_running(), 30)
    assert "Cancelled" in dialog.statusLabel.text()
    assert set(QgsProject.instance().mapLayers()) == layers_before
    maps = tmp_path / "maps"
    leftovers = list(maps.rglob("*")) if maps.exists() else []
    assert leftovers == [], leftovers



def test_status_text_says_what_is_done(qgis_app):
    """Walkthrough defect 7: the status line read "map: map 0/9"."""
    plugin_package()
    from s1ricemapper.plugin.map_job import progress_text

    assert progress_text({"stage": "map", "done": 3, "total": 9, "eta": 12.4}) == \
        "Mapping rice: tile 3 of 9 · about 12 s left"
    assert progress_text({"stage": "evaluate", "done": 1, "total": 4, "eta_s": 300}) == \
        "Comparing with the reference: window 1 of 4 · about 5 min left"


def test_result_group_shows_unfolded_heatmap_above_probability(qgis_iface, qgis_new_project, tmp_path):
    """Walkthrough defect 6, in a layer tree view: the run's group unfolded, the heat map unticked above the
    probability (ticking it shows it)."""
    plugin_package()
    from s1ricemapper.plugin.results import load_results

    for name in ("rice", "probability", "heatmap"):
        write_series(tmp_path / f"{name}.tif", -3.0, size=8, dates=["x"], linear=True)
    model = QgsLayerTreeModel(QgsProject.instance().layerTreeRoot())
    view = QgsLayerTreeView()
    view.setModel(model)
    group, layers = load_results(tmp_path, "Rice map test")
    assert view.isExpanded(view.node2index(group))
    assert [n.layer().name() for n in group.findLayers()] == ["rice", "heatmap", "probability"]
    assert not group.findLayer(layers["heatmap"].id()).itemVisibilityChecked()
