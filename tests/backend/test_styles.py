"""The QML templates are QGIS 3.22 raster styles of the right kind (QGIS itself loads them in plugin tests)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from backend.writers.styles import STYLE_NAMES, style_template, write_style


def renderer(name: str) -> ET.Element:
    root = ET.parse(style_template(name)).getroot()
    assert root.tag == "qgis" and root.get("version", "").startswith("3.22")
    return root.find("./pipe/rasterrenderer")


@pytest.mark.parametrize("name", ["rice", "error"])
def test_class_maps_are_paletted(name):
    palette = {int(e.get("value")): e for e in renderer(name).iter("paletteEntry")}
    assert renderer(name).get("type") == "paletted"
    if name == "rice":
        assert palette[1].get("color") == "#4daf4a" and palette[1].get("alpha") == "255"
        assert palette[0].get("alpha") == "0" and 255 not in palette  # other and nodata transparent
    else:
        assert sorted(palette) == [1, 2, 3, 4]
        assert [palette[k].get("label").split()[0] for k in (1, 2, 3, 4)] == ["true", "false", "false", "true"]


@pytest.mark.parametrize("name", ["probability", "heatmap"])
def test_continuous_maps_are_pseudocolor_from_0_to_1(name):
    element = renderer(name)
    shader = element.find("./rastershader/colorrampshader")
    assert element.get("type") == "singlebandpseudocolor"
    assert float(element.get("classificationMin")) == 0 and float(element.get("classificationMax")) == 1
    assert float(shader.get("minimumValue")) == 0 and float(shader.get("maximumValue")) == 1
    values = [float(item.get("value")) for item in shader.iter("item")]
    assert values[0] == 0 and values[-1] == 1 and values == sorted(values)


def test_write_style_copies_the_template_beside_a_raster(tmp_path):
    assert set(STYLE_NAMES) == {"rice", "probability", "heatmap", "error", "intensity", "transplanting_doy"}
    written = write_style("rice", tmp_path / "rice.qml")
    assert written.read_bytes() == style_template("rice").read_bytes()
    with pytest.raises(ValueError):
        style_template("nothing")
