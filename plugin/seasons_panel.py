"""The "Find seasons" panel the Map rice dialog embeds: runs ``backend seasons``, lists the cycles found.

Self-contained: the dialog calls :meth:`SeasonsPanel.set_inputs` with its VV/VH files, and connects
:attr:`SeasonsPanel.seasonChosen` (``start``, ``end`` as YYYY-MM-DD) to its season fields. The panel keeps
the last season chosen in the plugin settings (:func:`last_choice`). Whether a chosen window misses the
detected cycles is the backend's finding (``map --check-only``'s ``season_choice``), shown by the dialog.
"""

from __future__ import annotations

import tempfile

from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from .backend_client import BackendClient, BackendFailure
from .diagnostics import tr
from .settings import get_value, set_value

SETTING_LAST = "seasons/last_choice"
ROLE = Qt.ItemDataRole.UserRole


def last_choice() -> tuple[str, str] | None:
    """The season last chosen in the panel (kept between openings of the dialog), or None."""
    parts = get_value(SETTING_LAST).split()
    return (parts[0], parts[1]) if len(parts) == 2 else None


class SeasonsPanel(QWidget):
    """A "Find seasons" button, the report text and the list of cycles found; choosing one emits it."""

    seasonChosen = pyqtSignal(str, str)  # noqa: N815 (Qt signal naming)
    finished = pyqtSignal(bool)

    def __init__(self, parent: QWidget | None = None, client: BackendClient | None = None) -> None:
        super().__init__(parent)
        self.client = client or BackendClient(parent=self)
        self.vv: list[str] = []
        self.vh: list[str] = []
        self.result: dict = {}
        self.run = None
        self.button = QPushButton(tr("Find seasons"))
        self.button.setToolTip(tr("Find the rice crop cycles in the series (flooding, then VH growth)"))
        self.use_button = QPushButton(tr("Use this season"))
        self.status = QLabel("")
        self.cycles = QListWidget()
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self._layout()
        self.button.clicked.connect(self.find_seasons)
        self.use_button.clicked.connect(self.choose_selected)
        self.cycles.itemDoubleClicked.connect(lambda _item: self.choose_selected())
        self._update_buttons()

    def _layout(self) -> None:
        row = QHBoxLayout()
        row.addWidget(self.button)
        row.addWidget(self.use_button)
        row.addWidget(self.status, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.cycles)
        layout.addWidget(self.text)

    def set_inputs(self, vv_paths: list[str], vh_paths: list[str]) -> None:
        """The VV and VH files the dialog will map; clears an earlier result when they change."""
        vv, vh = [str(p) for p in vv_paths], [str(p) for p in vh_paths]
        if (vv, vh) != (self.vv, self.vh):
            self.vv, self.vh = vv, vh
            self.result = {}
            self.cycles.clear()
            self.text.clear()
            self.status.setText("")
        self._update_buttons()

    def find_seasons(self) -> None:
        """Start ``backend seasons`` on the inputs (asynchronous; the dialog stays responsive)."""
        if not self.vh or self.run is not None:
            return
        out = tempfile.mkdtemp(prefix="s1rice-seasons-")
        self.status.setText(tr("Looking for rice seasons..."))
        self.run = self.client.call_async("seasons", ["--vv", *self.vv, "--vh", *self.vh, "--out", out],
                                          self._on_result, self._on_failure)
        self._update_buttons()

    def _on_result(self, result: dict) -> None:
        self.run = None
        self.result = result
        self.text.setPlainText(result.get("text", ""))
        self.cycles.clear()
        main = (result.get("main") or {}).get("window")
        for cycle in result.get("cycles") or []:
            start, end = cycle["window"]
            label = tr("{} to {} (flooding {}, {:.0%} of pixels)").format(start, end, cycle["flood_peak"],
                                                                           cycle["share"])
            item = QListWidgetItem(label + (tr("  - main season") if cycle["window"] == main else ""))
            item.setData(ROLE, [start, end])
            self.cycles.addItem(item)
            if cycle["window"] == main:
                self.cycles.setCurrentItem(item)
        self.status.setText(tr("{} season(s) found").format(len(result.get("cycles") or [])))
        self._update_buttons()
        self.finished.emit(True)

    def _on_failure(self, failure: BackendFailure) -> None:
        self.run = None
        self.result = {}
        self.cycles.clear()
        self.text.setPlainText(failure.message)
        self.status.setText(tr("No season found") if failure.kind == "UserError" else tr("Failed"))
        self._update_buttons()
        self.finished.emit(False)

    def choose_selected(self) -> None:
        """Emit :attr:`seasonChosen` for the selected cycle and remember it."""
        item = self.cycles.currentItem()
        if item is None:
            return
        start, end = item.data(ROLE)
        set_value(SETTING_LAST, f"{start} {end}")
        self.seasonChosen.emit(start, end)

    def _update_buttons(self) -> None:
        self.button.setEnabled(bool(self.vh) and self.run is None)
        self.use_button.setEnabled(self.cycles.count() > 0)
