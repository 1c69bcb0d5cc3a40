"""The plugin loads into a real QGIS and unloads without leaving actions, docks or map tools behind."""

from conftest import plugin_package, wait_until
from qgis.PyQt.QtCore import QCoreApplication, QEvent
from qgis.PyQt.QtWidgets import QAction, QDialog, QDockWidget

EXPECTED_ACTIONS = {"s1ricemapper_map_rice", "s1ricemapper_fetch", "s1ricemapper_finetune", "s1ricemapper_profile",
                    "s1ricemapper_settings"}


def _flush_deletes() -> None:
    QCoreApplication.sendPostedEvents(None, QEvent.DeferredDelete)
    QCoreApplication.processEvents()


def _our_children(window, kind) -> list:
    return [w for w in window.findChildren(kind) if w.objectName().startswith("s1ricemapper")]


def test_plugin_loads_and_unloads(qgis_iface, monkeypatch):
    menus = []  # pytest-qgis's interface has no Raster menu: record where the plugin puts its actions
    monkeypatch.setattr(qgis_iface, "addPluginToRasterMenu", lambda menu, action: menus.append((menu, action)),
                        raising=False)
    plugin = plugin_package().classFactory(qgis_iface)
    plugin.initGui()
    from s1ricemapper.plugin.backend_session import SETUP_HINT

    settings = [f"Raster > {menu.replace('&', '')} > {action.text()} " for menu, action in menus
                if action.objectName() == "s1ricemapper_settings"]
    assert settings and settings[0] in SETUP_HINT, (settings, SETUP_HINT)  # the hint names the real menu path
    assert {a.objectName() for a in plugin.actions} == EXPECTED_ACTIONS
    assert all(a.text() for a in plugin.actions)
    by_name = {a.objectName(): a for a in plugin.actions}
    pictures = [by_name[n].icon().pixmap(32, 32).toImage() for n in ("s1ricemapper_map_rice", "s1ricemapper_profile")]
    assert not any(p.isNull() for p in pictures) and pictures[0] != pictures[1]  # two distinct toolbar icons
    plugin.open_fetch_dialog()
    assert plugin.fetch_dialog.isVisible()
    plugin.unload()
    _flush_deletes()
    assert plugin.actions == [] and plugin.fetch_dialog is None
    assert _our_children(qgis_iface.mainWindow(), QAction) == []
    assert [d for d in _our_children(qgis_iface.mainWindow(), QDialog)
            if d.objectName() == "s1ricemapper_fetch_dialog"] == []  # other tests' dialogs may still be there


def test_unload_removes_dock_and_map_tool(qgis_iface, backend_python_setting):
    _flush_deletes()
    docks_before = _our_children(qgis_iface.mainWindow(), QDockWidget)
    plugin = plugin_package().classFactory(qgis_iface)
    plugin.initGui()
    plugin.toggle_finetune_dock()
    plugin.activate_profile_tool()
    canvas = qgis_iface.mapCanvas()
    assert canvas.mapTool() is plugin.profile_tool
    assert plugin.finetune_dock is not None
    wait_until(lambda: not plugin.finetune_dock.busy(), 60)  # let the model list load
    plugin.unload()
    _flush_deletes()
    assert canvas.mapTool() is None
    assert _our_children(qgis_iface.mainWindow(), QDockWidget) == docks_before
    assert _our_children(qgis_iface.mainWindow(), QAction) == []


def test_slot_errors_go_to_the_message_bar(qgis_iface):
    diagnostics = __import__("s1ricemapper.plugin.diagnostics", fromlist=["guarded"])

    class Broken:
        iface = qgis_iface

        @diagnostics.guarded
        def on_click(self):
            raise ValueError("boom")

    Broken().on_click(True)  # Qt passes `checked`; the wrapper drops it
    item = qgis_iface.messageBar().currentItem()
    assert item is not None and "boom" in item.text()
    assert "Traceback" not in item.text()
