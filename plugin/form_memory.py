"""Remember a form's values between openings (and QGIS sessions) in QgsSettings.

The walkthrough found that reopening *Map rice* reset the season to the whole data range, which cut F1
from 0.958 to 0.649 without a word. Every choice a user makes in the dialog is therefore stored under
``s1ricemapper/<form>/<widget>`` and put back when the form is built again.
"""

from __future__ import annotations

from qgis.PyQt.QtCore import QDate, Qt
from qgis.PyQt.QtWidgets import QCheckBox, QComboBox, QDateEdit, QDoubleSpinBox, QLineEdit, QSpinBox, QWidget

from .settings import get_value, set_value


class FormMemory:
    """Saves and restores the values of named widgets under one settings group.

    Args:
        group: settings group, e.g. ``"map"`` (keys become ``s1ricemapper/map/<name>``).
        widgets: name -> widget; supported: QDateEdit, QCheckBox, QSpinBox, QDoubleSpinBox, QLineEdit and
            QComboBox (by item data).
    """

    def __init__(self, group: str, widgets: dict[str, QWidget]) -> None:
        self.group = group
        self.widgets = widgets

    def save(self) -> None:
        for name, widget in self.widgets.items():
            set_value(f"{self.group}/{name}", _read(widget))

    def restore(self, names: list[str] | None = None) -> list[str]:
        """Put back the stored values (of ``names``, default all); returns the names that had one."""
        restored = []
        for name in names or list(self.widgets):
            text = get_value(f"{self.group}/{name}", "")
            if text and _write(self.widgets[name], text):
                restored.append(name)
        return restored

    def stored(self, name: str) -> str:
        """The stored text of ``name`` ('' when none), without touching the widget."""
        return get_value(f"{self.group}/{name}", "")


def _read(widget: QWidget) -> str:
    if isinstance(widget, QDateEdit):
        return widget.date().toString(Qt.DateFormat.ISODate)
    if isinstance(widget, QCheckBox):
        return "1" if widget.isChecked() else "0"
    if isinstance(widget, (QSpinBox, QDoubleSpinBox)):
        return str(widget.value())
    if isinstance(widget, QLineEdit):
        return widget.text()
    if isinstance(widget, QComboBox):
        data = widget.currentData()
        return "" if data is None else str(data)
    raise TypeError(f"cannot remember a {type(widget).__name__}")


def _write(widget: QWidget, text: str) -> bool:
    """Set ``widget`` from ``text``; False when the value no longer fits (e.g. a model that is gone)."""
    if isinstance(widget, QDateEdit):
        date = QDate.fromString(text, Qt.DateFormat.ISODate)
        if date.isValid():
            widget.setDate(date)
        return date.isValid()
    if isinstance(widget, QCheckBox):
        widget.setChecked(text == "1")
        return True
    if isinstance(widget, QSpinBox):
        widget.setValue(int(float(text)))
        return True
    if isinstance(widget, QDoubleSpinBox):
        widget.setValue(float(text))
        return True
    if isinstance(widget, QLineEdit):
        widget.setText(text)
        return True
    if isinstance(widget, QComboBox):
        index = widget.findData(text)
        if index >= 0:
            widget.setCurrentIndex(index)
        return index >= 0
    return False
