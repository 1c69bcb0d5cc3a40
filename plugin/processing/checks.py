"""Checks only QGIS can make before a run: those about layers as QGIS holds them.

Everything about values, files, dates and models is the backend's (the contract's ranges and choices, then
``--check-only``; see :mod:`.contract_params`), so no check is written twice.
"""

from __future__ import annotations

from qgis.core import QgsVectorLayer

from .base import tr


def field_problem(layer, field: str, parameter: str) -> str | None:
    """A class field that the reference/labels vector layer does not have (QGIS knows the loaded layer's
    fields even when it is not a file the backend could open)."""
    if not isinstance(layer, QgsVectorLayer) or not field:
        return None
    names = layer.fields().names()
    if field in names:
        return None
    return tr("{}: layer '{}' has no field '{}'; its fields are: {}.").format(
        parameter, layer.name(), field, ", ".join(names) or "none")
