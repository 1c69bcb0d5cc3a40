"""The plugin loads into a real QGIS and unloads without leaving actions behind."""

from conftest import plugin_package


def test_plugin_loads_and_unloads(qgis_iface):
    plugin = plugin_package().classFactory(qgis_iface)
    plugin.initGui()
    names = [a.objectName() for a in plugin.actions]
    assert "s1ricemapper_map_rice" in names
    assert all(a.text() for a in plugin.actions)
    plugin.unload()
    assert plugin.actions == []
