"""QML styles that QGIS 3.22 applies automatically to a raster with the same base name.

The templates live in ``resources/styles/`` so the QGIS plugin can reuse them for layers it styles itself.
"""

from __future__ import annotations

import shutil
from pathlib import Path

STYLES_DIR = Path(__file__).resolve().parents[2] / "resources" / "styles"
STYLE_NAMES = ("rice", "probability", "heatmap", "error", "intensity", "transplanting_doy")


def style_template(name: str) -> Path:
    """Path of the QML template ``name`` (one of :data:`STYLE_NAMES`)."""
    if name not in STYLE_NAMES:
        raise ValueError(f"unknown style {name!r}; known: {STYLE_NAMES}")
    return STYLES_DIR / f"{name}.qml"


def write_style(name: str, destination: str | Path) -> Path:
    """Copy style ``name`` to ``destination`` (normally the raster's path with a ``.qml`` suffix)."""
    destination = Path(destination)
    shutil.copyfile(style_template(name), destination)
    return destination
