"""Set form widgets from the backend's contract: ranges, defaults, choices and tooltips written once.

The dialog and the fine-tune panel never carry a default of their own (issue 11): a spin box gets its
range and default, a combo box its choices and default, every field the option's help as tooltip, all
through :mod:`.contract_view`.
"""

from __future__ import annotations

from qgis.PyQt.QtWidgets import QComboBox, QSpinBox, QWidget

from . import contract_view
from .diagnostics import tr


def apply_int_option(spin: QSpinBox, verb: str, key: str, keep_minimum: bool = False) -> None:
    """Range, default and tooltip of integer option ``key`` of ``verb``.

    Args:
        keep_minimum: keep the widget's own minimum (a special "default" value below the range).
    """
    low, high = contract_view.value_range(verb, key)
    if not keep_minimum and low is not None:
        spin.setMinimum(int(low))
    if high is not None:
        spin.setMaximum(int(high))
    if contract_view.default(verb, key) is not None and not keep_minimum:
        spin.setValue(int(contract_view.default(verb, key)))
    spin.setToolTip(contract_view.tooltip(verb, key))


def fill_choices(combo: QComboBox, verb: str, key: str, labels: dict[str, str]) -> None:
    """The choices of option ``key`` (labelled from ``labels``), its default selected, its help as tooltip."""
    for value in contract_view.choices(verb, key):
        combo.addItem(tr(labels.get(value, value)), value)
    combo.setCurrentIndex(max(combo.findData(contract_view.default(verb, key)), 0))
    combo.setToolTip(contract_view.tooltip(verb, key))


def set_tooltips(verb: str, widgets: dict[str, QWidget]) -> None:
    """Each widget's tooltip from the help of the option it edits (key -> widget)."""
    for key, widget in widgets.items():
        widget.setToolTip(contract_view.tooltip(verb, key))


OUTLINE = "border: 2px solid #b00020;"  # a field at fault
ERROR_STYLE = "color: #b00020;"  # a line that says the run would be refused


def field_name(verb: str, key: str) -> str:
    """How a form names the field of contract key ``key``: its label, quoted (never a CLI flag)."""
    try:
        return f"'{contract_view.label(verb, key)}'"
    except KeyError:
        return key.replace("_", " ")


class FieldOutline:
    """The field a refused backend check points at, outlined in red until the next check."""

    def __init__(self) -> None:
        self.widget: QWidget | None = None

    def show(self, widget: QWidget | None) -> None:
        """Outline ``widget`` (None: nothing to point at) and give it the focus."""
        self.clear()
        if widget is None:
            return
        widget.setStyleSheet(OUTLINE)
        widget.setFocus()
        self.widget = widget

    def clear(self) -> None:
        if self.widget is not None:
            self.widget.setStyleSheet("")
            self.widget = None
