"""Errors shown the QGIS way: a message-bar line with a "Details" button, never a traceback dialog.

The details are a copyable diagnostics report (plugin, QGIS, Qt and Python versions, backend interpreter,
the backend's library versions and GPU when known, the failing command line and the last stderr lines),
so a user can paste one block into a bug report.
"""

from __future__ import annotations

import functools
import inspect
import platform
import sys
import traceback
from typing import Any, Callable

from qgis.core import Qgis, QgsMessageLog
from qgis.PyQt.QtCore import QT_VERSION_STR, QCoreApplication
from qgis.PyQt.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from .settings import backend_python, plugin_version

TITLE = "S1 Rice Mapper"
# the last `backend version` answer, so reports can say which torch / onnxruntime / GPU ran
_backend_versions: dict[str, Any] = {}


def tr(text: str) -> str:
    return QCoreApplication.translate("S1RiceMapper", text)


def remember_backend_versions(versions: dict[str, Any]) -> None:
    _backend_versions.clear()
    _backend_versions.update(versions)


def gpu_summary(versions: dict[str, Any]) -> str:
    """'yes (name)' or 'no', from a `backend version` answer."""
    gpu = versions.get("gpu") or {}
    if gpu.get("available"):
        return tr("yes") + f" ({gpu.get('name') or tr('unnamed GPU')})"
    return tr("no")


def diagnostics_report(details: str = "") -> str:
    """Everything a maintainer needs to reproduce a problem, as plain text."""
    lines = [
        f"S1 Rice Mapper plugin {plugin_version()}",
        f"QGIS {Qgis.QGIS_VERSION}, Qt {QT_VERSION_STR}, Python {sys.version.split()[0]} ({sys.executable})",
        f"OS {platform.platform()}",
        f"backend interpreter: {backend_python()}",
    ]
    if _backend_versions:
        keys = ("backend", "python", "torch", "onnxruntime", "rasterio", "gdal", "numpy")
        lines.append("backend: " + ", ".join(f"{k} {_backend_versions[k]}" for k in keys if k in _backend_versions))
        lines.append(f"GPU detected: {gpu_summary(_backend_versions)}")
    else:
        lines.append("backend versions: unknown (press 'Check backend' in the settings)")
    if details:
        lines += ["", details]
    return "\n".join(lines)


class DetailsDialog(QDialog):
    """Read-only report with a Copy button."""

    def __init__(self, title: str, report: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("s1ricemapper_details")
        self.setWindowTitle(title)
        self.resize(720, 420)
        self.text = QPlainTextEdit(report, self)
        self.text.setReadOnly(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        copy = QPushButton(tr("Copy"), self)
        buttons.addButton(copy, QDialogButtonBox.ButtonRole.ActionRole)
        copy.clicked.connect(lambda: QApplication.clipboard().setText(report))
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(buttons)


MAX_LINE_CHARACTERS = 400  # longer messages are shortened in status lines; the tooltip keeps them whole
BREAK_AFTER = "/\\_.,;:=&"  # characters after which a long path or token may wrap


def breakable(text: str) -> str:
    """``text`` with zero-width break opportunities inside long tokens (paths), so a word-wrapped label
    wraps them instead of growing as wide as the longest one."""
    words = []
    for word in text.split(" "):
        if len(word) > 30:
            word = "".join(ch + "\u200b" if ch in BREAK_AFTER else ch for ch in word)
        words.append(word)
    return " ".join(words)


def wrap_without_widening(label) -> None:
    """A word-wrapped label whose text never sets its window's minimum width."""
    from qgis.PyQt.QtWidgets import QSizePolicy

    label.setWordWrap(True)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    label.setMinimumWidth(1)


def set_message(label, message: str) -> None:
    """Show ``message`` in a word-wrapped status label without widening its window.

    The whole message stays in the tooltip (and in the message bar / Details where it is also shown).
    """
    shown = message if len(message) <= MAX_LINE_CHARACTERS else message[:MAX_LINE_CHARACTERS - 1] + "…"
    label.setText(breakable(shown))
    label.setToolTip(message if shown != message else "")


def warn(iface, status_label, message: str) -> None:
    """A problem the user can fix: shown in the panel's status line and in the message bar."""
    set_message(status_label, message)
    iface.messageBar().pushWarning(TITLE, message)


def push_error(iface, message: str, details: str = "") -> QWidget:
    """Show ``message`` in the message bar with a Details button; log the report too."""
    return push_with_details(iface, message, diagnostics_report(details), Qgis.MessageLevel.Critical)


def push_with_details(iface, message: str, report: str, level: Qgis.MessageLevel) -> QWidget:
    """A message-bar line that stays until closed, with a Details button showing ``report``; logged too.

    Args:
        iface: QGIS's interface.
        message: The line shown in the bar.
        report: The copyable text behind Details.
        level: The bar's level (warnings of a result, errors of a run).

    Returns:
        The bar item, so callers can withdraw it.
    """
    QgsMessageLog.logMessage(f"{message}\n{report}", TITLE, level)
    bar = iface.messageBar()
    widget = bar.createMessage(TITLE, message)
    button = QPushButton(tr("Details"), widget)
    button.setObjectName("s1ricemapper_details_button")
    button.setProperty("report", report)
    button.clicked.connect(lambda: DetailsDialog(tr("S1 Rice Mapper: details"), report,
                                                 iface.mainWindow()).exec_())
    widget.layout().addWidget(button)
    bar.pushWidget(widget, level, 0)
    return widget


def push_failure(iface, failure) -> QWidget | None:
    """A BackendFailure in the message bar (a cancel is only an info line); returns the bar item."""
    if failure.cancelled:
        iface.messageBar().pushInfo(TITLE, failure.message)
        return None
    return push_error(iface, failure.message, failure.details())


def guarded(method: Callable) -> Callable:
    """Wrap a Qt slot so an exception becomes a message-bar error instead of QGIS's Python error dialog.

    The wrapped method's object must have an ``iface`` attribute.
    """

    accepted = _positional_count(method) - 1  # Qt passes extra signal arguments (e.g. `checked`)

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *(args if accepted < 0 else args[:accepted]), **kwargs)
        except Exception as err:  # noqa: BLE001 - the last line of defence in a slot
            push_error(self.iface, tr("Unexpected error: {}").format(err),
                       "traceback:\n" + traceback.format_exc())
            return None

    return wrapper


def _positional_count(function: Callable) -> int:
    """How many positional parameters ``function`` takes, or -1 when it takes ``*args``."""
    parameters = inspect.signature(function).parameters.values()
    if any(p.kind == p.VAR_POSITIONAL for p in parameters):
        return -1
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters)
