"""The plugin object QGIS creates through ``classFactory``: actions, menu, toolbar, dock and map tool.

Everything added here is tracked and removed in :meth:`S1RiceMapperPlugin.unload`, so reloading the
plugin leaves no actions, docks or map tools behind.
"""

from __future__ import annotations

from typing import Any

from qgis.PyQt.QtCore import QCoreApplication, Qt
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QAction

from .backend_session import MENU_NAME, SETTINGS_ACTION
from .diagnostics import guarded
from .settings import PLUGIN_DIR
from .settings_dialog import notify_backend_state
from .translation import install_translator, remove_translator

MENU = "&" + MENU_NAME
ICONS = PLUGIN_DIR / "resources" / "icons"
ICON = ICONS / "icon.svg"
# each toolbar action its own picture, so Map rice and Temporal profile are told apart at a glance
ACTION_ICONS = {"s1ricemapper_map_rice": ICONS / "map_rice.svg",
                "s1ricemapper_profile": ICONS / "temporal_profile.svg"}


class S1RiceMapperPlugin:
    """Owns every action, dock and map tool it adds, and removes all of them in :meth:`unload`."""

    def __init__(self, iface) -> None:
        self.iface = iface
        self.actions: list[QAction] = []
        # created on first use (their modules import the heavier GUI parts)
        self.map_dialog: Any = None
        self.fetch_dialog: Any = None
        self.finetune_dock: Any = None
        self.profile_tool: Any = None
        self.profile_action: QAction | None = None
        self.processing_provider: Any = None
        self.translator = install_translator()

    def initProcessing(self) -> None:  # noqa: N802 (QGIS's name; qgis_process calls it too)
        if self.processing_provider is not None:
            return
        from qgis.core import QgsApplication

        from .processing.provider import RiceMapperProvider

        self.processing_provider = RiceMapperProvider()
        QgsApplication.processingRegistry().addProvider(self.processing_provider)

    def initGui(self) -> None:  # noqa: N802 (QGIS's name)
        self.initProcessing()
        self._add_action("s1ricemapper_map_rice", self.tr("Map rice"), self.open_map_dialog, toolbar=True)
        self._add_action("s1ricemapper_fetch", self.tr("Get Sentinel-1…"), self.open_fetch_dialog)
        self._add_action("s1ricemapper_finetune", self.tr("Fine-tune panel"), self.toggle_finetune_dock)
        self.profile_action = self._add_action("s1ricemapper_profile", self.tr("Temporal profile"),
                                               self.activate_profile_tool, toolbar=True)
        self.profile_action.setCheckable(True)
        self._add_action("s1ricemapper_settings", self.tr(SETTINGS_ACTION), self.open_settings)
        notify_backend_state(self.iface, self.open_settings)  # missing / outdated / damaged environment: offer set-up

    def _add_action(self, name: str, text: str, slot, toolbar: bool = False) -> QAction:
        action = QAction(QIcon(str(ACTION_ICONS.get(name, ICON))), text, self.iface.mainWindow())
        action.setObjectName(name)
        action.triggered.connect(slot)
        if toolbar:
            self.iface.addToolBarIcon(action)
        self.iface.addPluginToRasterMenu(MENU, action)
        self.actions.append(action)
        return action

    def unload(self) -> None:
        remove_translator(self.translator)
        self.translator = None
        if self.processing_provider is not None:
            from qgis.core import QgsApplication

            QgsApplication.processingRegistry().removeProvider(self.processing_provider)
            self.processing_provider = None
        if self.profile_tool is not None:
            if self.iface.mapCanvas().mapTool() is self.profile_tool:
                self.iface.mapCanvas().unsetMapTool(self.profile_tool)
            self.profile_tool.close_plot()
            self.profile_tool.deleteLater()
            self.profile_tool = None
        if self.finetune_dock is not None:
            self.finetune_dock.shutdown()
            self.iface.removeDockWidget(self.finetune_dock)
            self.finetune_dock.deleteLater()
            self.finetune_dock = None
        if self.fetch_dialog is not None:
            self.fetch_dialog.shutdown()
            self.fetch_dialog.deleteLater()
            self.fetch_dialog = None
        if self.map_dialog is not None:
            self.map_dialog.shutdown()
            self.map_dialog.deleteLater()
            self.map_dialog = None
        for action in self.actions:
            self.iface.removeToolBarIcon(action)
            self.iface.removePluginRasterMenu(MENU, action)
            action.deleteLater()
        self.actions.clear()
        self.profile_action = None

    @guarded
    def open_map_dialog(self) -> None:
        from .map_dialog import MapRiceDialog

        if self.map_dialog is None:
            self.map_dialog = MapRiceDialog(self.iface)
        if self.map_dialog.isVisible():
            self.map_dialog.refresh()  # already open: check the backend again (showEvent does it otherwise)
        self.map_dialog.show()
        self.map_dialog.raise_()

    @guarded
    def open_fetch_dialog(self) -> None:
        from .fetch_dialog import FetchDialog

        if self.fetch_dialog is None:
            self.fetch_dialog = FetchDialog(self.iface)
        self.fetch_dialog.show()
        self.fetch_dialog.raise_()

    @guarded
    def toggle_finetune_dock(self) -> None:
        from .finetune_dock import FineTuneDock

        if self.finetune_dock is None:
            self.finetune_dock = FineTuneDock(self.iface)
            self.finetune_dock.model_created.connect(self._on_model_created)
            self.iface.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.finetune_dock)
            self.finetune_dock.refresh()
            return
        self.finetune_dock.setVisible(not self.finetune_dock.isVisible())

    def _on_model_created(self, _name: str) -> None:
        if self.map_dialog is not None:
            self.map_dialog.load_models()

    @guarded
    def activate_profile_tool(self) -> None:
        from .profile_tool import TemporalProfileTool

        canvas = self.iface.mapCanvas()
        if self.profile_tool is None:
            self.profile_tool = TemporalProfileTool(self.iface)
            self.profile_tool.setAction(self.profile_action)
        canvas.setMapTool(self.profile_tool)

    @guarded
    def open_settings(self) -> None:
        from .settings_dialog import SettingsDialog

        SettingsDialog(self.iface).exec()
        self._backend_settings_changed()

    def _backend_settings_changed(self) -> None:
        """After Settings, open windows ask the backend again, so none shows a stale backend state."""
        if self.map_dialog is not None and self.map_dialog.isVisible():
            self.map_dialog.refresh()
        if self.finetune_dock is not None and self.finetune_dock.isVisible():
            self.finetune_dock.refresh()

    @staticmethod
    def tr(text: str) -> str:
        return QCoreApplication.translate("S1RiceMapper", text)
