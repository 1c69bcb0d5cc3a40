"""Plugin settings kept in QgsSettings, and where the plugin's files live.

The backend runs in its own interpreter (a separate virtual environment), so QGIS's Python is never
modified; the path of that interpreter is the one setting everything else depends on.
"""

from __future__ import annotations

import sys
from pathlib import Path

from qgis.core import QgsSettings

PLUGIN_DIR = Path(__file__).resolve().parent.parent
SETTINGS_PREFIX = "s1ricemapper"
BACKEND_PYTHON_KEY = f"{SETTINGS_PREFIX}/backend_python"
LAST_OUTPUT_DIR_KEY = f"{SETTINGS_PREFIX}/last_output_dir"


def default_backend_python(plugin_dir: Path = PLUGIN_DIR) -> Path:
    """The interpreter of the venv that ``scripts/setup.sh backend`` creates inside the plugin folder."""
    if sys.platform.startswith("win"):
        return plugin_dir / ".venv" / "Scripts" / "python.exe"
    return plugin_dir / ".venv" / "bin" / "python"


def backend_python() -> Path:
    """The configured backend interpreter, or the default one when nothing is set."""
    value = QgsSettings().value(BACKEND_PYTHON_KEY, "", type=str)
    return Path(value) if value else default_backend_python()


def set_backend_python(path: str | Path | None) -> None:
    """Store the interpreter path; an empty value goes back to the default."""
    settings = QgsSettings()
    if path:
        settings.setValue(BACKEND_PYTHON_KEY, str(path))
    else:
        settings.remove(BACKEND_PYTHON_KEY)


def get_value(key: str, default: str = "") -> str:
    return QgsSettings().value(f"{SETTINGS_PREFIX}/{key}", default, type=str)


def set_value(key: str, value: str) -> None:
    QgsSettings().setValue(f"{SETTINGS_PREFIX}/{key}", value)


def plugin_version() -> str:
    """The version in metadata.txt, for diagnostics reports."""
    try:
        for line in (PLUGIN_DIR / "metadata.txt").read_text(encoding="utf-8").splitlines():
            if line.startswith("version="):
                return line.split("=", 1)[1].strip()
    except OSError:
        pass
    return "unknown"
