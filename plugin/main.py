"""The plugin object QGIS creates through ``classFactory``: actions, menu, toolbar."""

from __future__ import annotations

from pathlib import Path

from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QAction

PLUGIN_DIR = Path(__file__).resolve().parent.parent
MENU = "&S1 Rice Mapper"


class S1RiceMapperPlugin:
    """Owns every action, dock and map tool it adds, and removes all of them in :meth:`unload`."""

    def __init__(self, iface) -> None:
        self.iface = iface
        self.actions: list[QAction] = []

    def initGui(self) -> None:  # noqa: N802 (QGIS's name)
        icon = QIcon(str(PLUGIN_DIR / "resources" / "icons" / "icon.svg"))
        action = QAction(icon, self.tr("Map rice"), self.iface.mainWindow())
        action.setObjectName("s1ricemapper_map_rice")
        action.triggered.connect(self.open_map_dialog)
        self.iface.addToolBarIcon(action)
        self.iface.addPluginToRasterMenu(MENU, action)
        self.actions.append(action)

    def unload(self) -> None:
        for action in self.actions:
            self.iface.removeToolBarIcon(action)
            self.iface.removePluginRasterMenu(MENU, action)
            action.deleteLater()
        self.actions.clear()

    def open_map_dialog(self) -> None:
        self.iface.messageBar().pushInfo("S1 Rice Mapper", self.tr("The Map rice dialog is not built yet."))

    @staticmethod
    def tr(text: str) -> str:
        from qgis.PyQt.QtCore import QCoreApplication

        return QCoreApplication.translate("S1RiceMapper", text)
