"""What the backend found doubtful, shown where the user looks: before a run and on its result.

* Before a run: ``info``'s ``findings`` (plausibility of the series: units, pixel size, levels, VV/VH
  order, dates), errors (what ``map`` would refuse) apart from warnings, each with the field it is about;
  and the season window(s) ``map --check-only`` says the run will composite (``season_choice``).
* After a run: ``run.json``'s ``input_checks`` (warnings about the inputs, e.g. units auto-corrected),
  ``checks.warnings`` (result plausibility) and ``season_choice.warnings``. They go to the message bar
  and stay with the result layers (abstract, metadata, layer-tree tooltip), so they outlive the bar.

Plain functions over the backend's JSON, so they are tested on real backend answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from qgis.core import QgsMapLayer

from .contract_view import output_name, render_message
from .diagnostics import tr
from .results import read_json

ERROR = "error"
WARNING = "warning"
MARKS = {ERROR: "✖", WARNING: "⚠"}
# finding checks about the series as a whole: the inputs are the fields at fault
SERIES_CHECKS = ("levels", "pixel_size", "polarizations", "units", "dates")
WARNINGS_PROPERTY = "s1ricemapper/warnings"  # a result layer's custom property: its run's warnings


@dataclass(frozen=True)
class Finding:
    """One ``info`` finding in the dialog's words."""

    level: str
    text: str
    fields: tuple[str, ...]  # contract keys of the fields it is about

    def line(self) -> str:
        return f"{MARKS.get(self.level, '⚠')} {self.text}"


def findings(info: dict, verb_name: str, name_of: Callable[[str], str]) -> list[Finding]:
    """``info``'s findings, errors first, their ``{param:KEY}`` tokens in the dialog's words.

    Args:
        info: A ``backend info`` answer.
        verb_name: The verb whose fields the dialog shows (``map``, ``finetune``).
        name_of: How the dialog names the field of a contract key.

    Returns:
        One :class:`Finding` per backend finding.
    """
    out = []
    for item in info.get("findings") or []:
        text = render_message(str(item.get("message", "")), verb_name, name_of)
        out.append(Finding(str(item.get("level", WARNING)), text, fields_of(item)))
    return sorted(out, key=lambda f: f.level != ERROR)


def fields_of(item: dict) -> tuple[str, ...]:
    """The contract keys a finding is about: its ``param``, else the inputs for a check of the series."""
    if item.get("param") and item["param"] != "dates":
        return (str(item["param"]),)
    return ("vv", "vh") if item.get("check") in SERIES_CHECKS or item.get("param") == "dates" else ()


def run_warnings(out_dir: str | Path) -> list[str]:
    """Every warning a finished ``map`` recorded in its ``run.json``, without repeats.

    Args:
        out_dir: The run's output folder.

    Returns:
        Input warnings first (``input_checks``), then the season's, then the result checks' failures.
    """
    run = read_json(Path(out_dir) / output_name("map", "run"))
    messages = [str(c.get("message", c)) if isinstance(c, dict) else str(c) for c in run.get("input_checks") or []]
    messages += [str(m) for m in (run.get("season_choice") or {}).get("warnings") or []]
    messages += [str(m) for m in (run.get("checks") or {}).get("warnings") or []]
    return list(dict.fromkeys(m for m in messages if m))


def warnings_text(warnings: Iterable[str]) -> str:
    """The text kept with each result layer: one line per warning."""
    return tr("Warnings of this run (from run.json):") + "\n" + "\n".join(f"⚠ {w}" for w in warnings)


def mark_layers(layers: Iterable[QgsMapLayer], warnings: list[str]) -> None:
    """Keep ``warnings`` with each layer: abstract (shown in the Layers panel's tooltip), metadata
    abstract (Properties > Metadata, saved with the project) and a custom property."""
    if not warnings:
        return
    text = warnings_text(warnings)
    for layer in layers:
        layer.setAbstract(text)
        metadata = layer.metadata()
        metadata.setAbstract(text)
        layer.setMetadata(metadata)
        layer.setCustomProperty(WARNINGS_PROPERTY, "\n".join(warnings))


def result_warning_message(group_name: str, layer_names: list[str], warnings: list[str]) -> str:
    """The message-bar line: which result, how many warnings, the first, and where the rest are."""
    first = warnings[0]
    more = tr(" (+{} more: see Details or the layers' tooltip)").format(len(warnings) - 1) if len(warnings) > 1 \
        else tr(" (kept in the layers' tooltip and metadata)")
    return tr("Check '{}' before using it ({}): {}{}").format(group_name, ", ".join(layer_names), first, more)


def season_summary(details: dict) -> str:
    """What ``map --check-only`` says the run will composite, for the season hint.

    Args:
        details: The ``details`` of a ``map --check-only`` answer (``season``, ``season_choice``).

    Returns:
        A sentence, or '' when the answer has no season.
    """
    choice = details.get("season_choice") or {}
    windows = choice.get("windows") or ([details["season"]] if details.get("season") else [])
    if not windows:
        return ""
    shown = "; ".join(f"{a} to {b}" for a, b in windows)
    reason = choice.get("reason", "")
    detected = choice.get("detected") or []
    if reason == "detected-main":
        main = next((c for c in detected if list(c.get("window") or []) == list(windows[0])), None)
        text = tr("The run maps the main detected rice cycle, {}").format(shown)
        if main:
            text += tr(" (flooding peak {}, {:.0%} of pixels)").format(main["flood_peak"], main["share"])
        complete = [c for c in detected if c.get("complete")]
        if len(complete) > 1:
            text += tr("; of the {} complete cycles found, this is the one where the most pixels flood and "
                       "then grow").format(len(complete))
        return text + "."
    if reason == "given-snapped":
        return tr("The run maps the detected rice crop(s) this season holds, each over the model's window: "
                  "{}.").format(shown)
    if reason == "all-detected":
        return tr("The run maps every detected rice cycle: {}.").format(shown)
    if reason in ("given-exact", "given-no-cycle", "early-season"):
        return tr("The run maps {}.").format(shown)
    return tr("The run maps {} (no rice cycle was detected in the series).").format(shown)
