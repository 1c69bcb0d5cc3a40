"""Model cards as `backend models` reports them, the model list the dialogs show, and the card viewer.

The dialog offers every fusion scheme and method of the SimTA paper, but only options backed by an
installed model can be chosen; the others stay visible, disabled, with a tooltip saying why. The model
list puts the backend's default model first, marked "recommended", then groups models by family, each
with its real-data figure from its card (walkthrough defect 2).
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QFont, QStandardItemModel
from qgis.PyQt.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

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
# card "arch" -> family heading, in the order the list shows them
FAMILIES = [("simta", "SimTA"), ("recurrent_unet", "Recurrent U-Net"), ("utae", "U-TAE"), ("simvp", "SimVP"),
            ("convlstm", "ConvLSTM"), ("unet", "U-Net"), ("random_forest", "Baselines (no deep learning)"),
            ("phenology_rules", "Baselines (no deep learning)")]
USER_FAMILY = "Your models"
RECOMMENDED = "recommended"

def normalise(value) -> str:
    """'Feature-level' / 'feature_level' / 'FEATURE' -> 'feature'; None -> ''."""
    text = str(value or "").strip().lower().replace("_", "-").replace(" ", "-")
    return text.split("-")[0] if text not in ("vv-only", "vh-only") else text[:2]


@dataclass
class ModelCard:
    name: str
    card: dict
    default: bool = False

    @property
    def scheme(self) -> str:
        return normalise((self.card.get("fusion") or {}).get("scheme"))

    @property
    def method(self) -> str:
        return normalise((self.card.get("fusion") or {}).get("method"))

    @property
    def polarizations(self) -> list[str]:
        return list((self.card.get("inputs") or {}).get("polarizations") or [])

    @property
    def arch(self) -> str:
        return str(self.card.get("arch") or self.card.get("architecture") or "")

    @property
    def fine_tuned(self) -> bool:
        """Made by the user's fine-tuning: not bundled and built on one base model.

        Bundled models that were derived from other bundled models during pretraining (decision-level
        fusion, the VH|VV recurrent U-Net) are not "fine-tuned" in the sense the user means.
        """
        return not self.card.get("bundled", False) and isinstance(self.card.get("base_model"), str)

    @property
    def family(self) -> str:
        if not self.card.get("bundled", True):
            return USER_FAMILY
        return dict(FAMILIES).get(self.arch, self.arch or tr("other"))

    def real_figure(self) -> tuple[str, float] | None:
        """(metrics key, F1) of the card's first real-data evaluation of this model, if it has one.

        Keys ``real_*`` hold measurements on real Sentinel-1 data; ``*_reference`` entries are another
        method's score kept for comparison, not this model's.
        """
        for key, values in (self.card.get("metrics") or {}).items():
            if key.startswith("real_") and "reference" not in key and isinstance(values, dict):
                f1 = values.get("f1")
                if isinstance(f1, (int, float)):
                    return key, float(f1)
        return None

    def figure_text(self) -> str:
        figure = self.real_figure()
        if figure is not None:
            return tr("real-data F1 {:.3f}").format(figure[1])
        validation = (self.card.get("metrics") or {}).get("validation") or {}
        if self.fine_tuned and isinstance(validation.get("f1"), (int, float)):
            return tr("validation F1 {:.3f} on your labels").format(validation["f1"])
        return tr("not yet tested on real data")

    def label(self) -> str:
        """One line for a combo box: name, "recommended" for the default, the real-data figure."""
        parts = [self.name]
        if self.default:
            parts.append(tr(RECOMMENDED))
        if self.fine_tuned:
            parts.append(tr("fine-tuned from {}").format(self.card["base_model"]))
        parts.append(self.figure_text())
        return " · ".join(parts)

    def tooltip(self) -> str:
        lines = [self.name, f"{self.family}: {self.card.get('description') or self.arch}"]
        figure = self.real_figure()
        if figure is not None:
            lines.append(tr("F1 {:.3f} on real data ({})").format(figure[1], metric_title(figure[0])))
        if self.default:
            lines.append(tr("The backend's default model."))
        return "\n".join(lines)


def metric_title(key: str) -> str:
    """'real_angiang_2022_zero_shot' -> 'real angiang 2022 zero shot'."""
    return key.replace("_", " ")


def cards_from_result(result: dict) -> list[ModelCard]:
    """Cards of a `backend models` answer, the default model first, then grouped by family.

    Accepts {'models': [card, ...]} or {name: card, ...}.
    """
    entries = result.get("models", result)
    if isinstance(entries, dict):
        entries = [dict(card, name=card.get("name", name)) for name, card in entries.items()
                   if isinstance(card, dict)]
    cards = [ModelCard(str(card.get("name")), card) for card in entries
             if isinstance(card, dict) and card.get("name") and "error" not in card]
    default = default_model_name(result)
    for card in cards:
        card.default = card.name == default
    return sorted(cards, key=_list_order)


def default_model_name(result: dict) -> str | None:
    """The backend's default model, as its `models` answer states it (the rule lives in the contract)."""
    named = result.get("default")
    return named if isinstance(named, str) and named else None


def _list_order(card: ModelCard) -> tuple:
    families = [label for _key, label in FAMILIES]
    rank = -2 if card.default else (-1 if card.family == USER_FAMILY else
                                    (families.index(card.family) if card.family in families else len(families)))
    return rank, card.name


def fill_model_combo(combo: QComboBox, cards: list[ModelCard]) -> None:
    """Models in list order, under a disabled heading per family; keeps the current model when listed."""
    current = combo.currentData()
    combo.blockSignals(True)
    combo.clear()
    model: QStandardItemModel = combo.model()
    heading_font = QFont(combo.font())
    heading_font.setBold(True)
    last_family = None
    for card in cards:
        family = tr("Recommended") if card.default else card.family
        if family != last_family:
            combo.addItem(family, None)
            item = model.item(combo.count() - 1)
            item.setFlags(item.flags() & ~(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable))
            item.setFont(heading_font)
            last_family = family
        combo.addItem(card.label(), card.name)
        combo.setItemData(combo.count() - 1, card.tooltip(), Qt.ItemDataRole.ToolTipRole)
    index = combo.findData(current) if current else -1
    if index < 0:
        default = next((c.name for c in cards if c.default), cards[0].name if cards else None)
        index = combo.findData(default) if default else -1
    combo.setCurrentIndex(index)
    combo.blockSignals(False)


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
    return item is not None and bool(item.flags() & Qt.ItemFlag.ItemIsEnabled)


METRIC_COLUMNS = (("f1", "F1"), ("iou_rice", "rice IoU"), ("oa", "OA"), ("precision", "precision"),
                  ("recall", "recall"), ("n", "n"))


def card_html(card: dict) -> str:
    """A model card as a readable form: what it is, its inputs, how it was trained, what it scored."""
    inputs, training = card.get("inputs") or {}, card.get("training") or {}
    fusion = card.get("fusion") or {}
    rows = [
        (tr("Name"), card.get("name")), (tr("Description"), card.get("description")),
        (tr("Architecture"), card.get("arch")), (tr("Version"), card.get("version")),
        (tr("Fusion"), " / ".join(str(v) for v in (fusion.get("scheme"), fusion.get("method")) if v)),
        (tr("Polarizations"), ", ".join(inputs.get("polarizations") or [])),
        (tr("Time steps"), inputs.get("steps")), (tr("Season length (days)"), inputs.get("season_days")),
        (tr("Input units"), inputs.get("units")), (tr("Compositing"), inputs.get("composite")),
        (tr("Size multiple (px)"), inputs.get("size_multiple")), (tr("Rice threshold"), card.get("threshold")),
        (tr("Default model"), tr("yes") if card.get("default") else None),
        (tr("Fine-tuned from"), card.get("base_model") if isinstance(card.get("base_model"), str) else None),
        (tr("Built from"), ", ".join(card["base_model"]) if isinstance(card.get("base_model"), list) else None),
        (tr("Trained with"), training.get("command")), (tr("Mode"), training.get("mode")),
        (tr("Epochs (best)"), _epochs(training)), (tr("Created"), card.get("created")),
        (tr("Size"), _size(card.get("size_bytes"))), (tr("Folder"), card.get("path")),
    ]
    body = "".join(f"<tr><th align='left'>{html.escape(label)}</th><td>{html.escape(str(value))}</td></tr>"
                   for label, value in rows if value not in (None, "", []))
    return f"<h3>{html.escape(str(card.get('name', '')))}</h3><table cellspacing='4'>{body}</table>" + \
        _metrics_html(card.get("metrics") or {})


def _epochs(training: dict) -> str | None:
    epochs = training.get("epochs") or (training.get("config") or {}).get("epochs")
    if epochs is None:
        return None
    best = training.get("best_epoch")
    return f"{epochs} ({best})" if best is not None else str(epochs)


def _size(size_bytes) -> str | None:
    return f"{size_bytes / 1e6:.1f} MB" if isinstance(size_bytes, (int, float)) and size_bytes > 0 else None


def _metrics_html(metrics: dict) -> str:
    if not metrics:
        return "<p>" + html.escape(tr("No metrics recorded.")) + "</p>"
    head = "".join(f"<th>{html.escape(title)}</th>" for _key, title in METRIC_COLUMNS)
    rows = []
    for name, values in metrics.items():
        if not isinstance(values, dict):
            continue
        cells = "".join(f"<td align='right'>{_cell(values.get(key))}</td>" for key, _title in METRIC_COLUMNS)
        rows.append(f"<tr><td>{html.escape(metric_title(name))}</td>{cells}</tr>")
    return (f"<h4>{html.escape(tr('Metrics'))}</h4><table border='1' cellspacing='0' cellpadding='3'>"
            f"<tr><th align='left'>{html.escape(tr('evaluation'))}</th>{head}</tr>{''.join(rows)}</table>")


def _cell(value) -> str:
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    return f"{value:.3f}" if isinstance(value, float) else html.escape(str(value))


class CardViewer(QDialog):
    """Shows one model card as a form with a metrics table (not raw JSON)."""

    def __init__(self, card: dict, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("s1ricemapper_card_viewer")
        self.setWindowTitle(tr("Model card: {}").format(card.get("name", "")))
        self.resize(620, 520)
        self.text = QTextBrowser(self)
        self.text.setHtml(card_html(card))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(buttons)
