"""Loads the plugin's translation (``i18n/s1ricemapper_<lang>.qm``) for QGIS's user locale, when one exists."""

from __future__ import annotations

from qgis.core import QgsSettings
from qgis.PyQt.QtCore import QCoreApplication, QTranslator

from .settings import PLUGIN_DIR


def install_translator() -> QTranslator | None:
    """Install and return the translator for the current locale; None when there is no translation."""
    locale = (QgsSettings().value("locale/userLocale", "", type=str) or "en")[:2]
    path = PLUGIN_DIR / "i18n" / f"s1ricemapper_{locale}.qm"
    if not path.exists():
        return None
    translator = QTranslator()
    if not translator.load(str(path)):
        return None
    QCoreApplication.installTranslator(translator)
    return translator


def remove_translator(translator: QTranslator | None) -> None:
    if translator is not None:
        QCoreApplication.removeTranslator(translator)
