"""Model cards as `backend models` reports them, and the fusion options the dialog offers.

The dialog offers every fusion scheme and method of the SimTA paper, but only options backed by an
installed model can be chosen; the others stay visible, disabled, with a tooltip saying why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QStandardItemModel
from qgis.PyQt.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QPlainTextEdit, QVBoxLayout, QWidget

from .diagnostics import tr

# (key, label, one-line explanation); keys are what card["fusion"] values normalise to
FUSION_SCHEMES = [
    ("vv", "VV only", "single polarization: VV"),
    ("vh", "VH only", "single polarization: VH"),
    ("data", "Data-level", "VV and VH stacked at the input"),
    ("feature", "Feature-level", "one encoder branch per polarization, fused inside the network"),
    ("decision", "Decision-level", "weighted sum of a VV model's and a VH model's outputs"),
]
FUSION_METHODS = [
    ("add", "Add", "element-wise sum"),
    ("concat", "Concat", "concatenation and 1x1 convolution"),
    ("aff", "AFF", "attentional feature fusion (Dai et al. 2021)"),
    ("dff", "DFF", "dynamic feature fusion"),
    ("cga", "CGA", "content-guided attention (DEA-Net, Chen et al. 2024)"),
]


def normalise(value) -> str:
    """'Feature-level' / 'feature_level' / 'FEATURE' -> 'feature'; None -> ''."""
    text = str(value or "").strip().lower().replace("_", "-").replace(" ", "-")
    return text.split("-")[0] if text not in ("vv-only", "vh-only") else text[:2]


@dataclass
class ModelCard:
    name: str
    card: dict

    @property
    def scheme(self) -> str:
        return normalise((self.card.get("fusion") or {}).get("scheme"))

    @property
    def method(self) -> str:
        return normalise((self.card.get("fusion") or {}).get("method"))

    @property
    def polarizations(self) -> list[str]:
        return list((self.card.get("inputs") or {}).get("polarizations") or [])

    def label(self) -> str:
        arch = self.card.get("arch") or self.card.get("architecture") or ""
        fine_tuned = " · " + tr("fine-tuned") if self.card.get("base_model") else ""
        return f"{self.name} ({arch}){fine_tuned}" if arch else self.name


def cards_from_result(result: dict) -> list[ModelCard]:
    """Accept {'models': [card, ...]} or {name: card, ...}."""
    entries = result.get("models", result)
    if isinstance(entries, dict):
        entries = [dict(card, name=card.get("name", name)) for name, card in entries.items()
                   if isinstance(card, dict)]
    return [ModelCard(str(card.get("name")), card) for card in entries if isinstance(card, dict) and card.get("name")]


def fill_option_combo(combo: QComboBox, options: list[tuple[str, str, str]], available: set[str]) -> None:
    """Options as items; those without an installed model are disabled with a tooltip saying why."""
    current = combo.currentData()
    combo.blockSignals(True)
    combo.clear()
    model: QStandardItemModel = combo.model()
    for key, label, explanation in options:
        combo.addItem(label, key)
        item = model.item(combo.count() - 1)
        if key in available:
            item.setToolTip(explanation)
        else:
            item.setEnabled(False)
            item.setToolTip(tr("{}: no installed model uses this option; train or install one "
                               "(make pretrain) to enable it.").format(explanation))
    enabled = [i for i in range(combo.count()) if model.item(i).isEnabled()]
    index = combo.findData(current)
    combo.setCurrentIndex(index if index in enabled else (enabled[0] if enabled else -1))
    combo.blockSignals(False)


def is_enabled(combo: QComboBox, index: int) -> bool:
    item = combo.model().item(index)
    return item is not None and bool(item.flags() & Qt.ItemIsEnabled)


class CardViewer(QDialog):
    """Shows one model card as formatted JSON."""

    def __init__(self, card: ModelCard, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(tr("Model card: {}").format(card.name))
        self.resize(560, 480)
        text = QPlainTextEdit(json.dumps(card.card, indent=2, default=str), self)
        text.setReadOnly(True)
        buttons = QDialogButtonBox(QDialogButtonBox.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(buttons)
