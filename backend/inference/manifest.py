"""Batch manifests: a CSV with one scene per row, ``vv``/``vh`` cells holding ``;``-separated files.

Shared by every verb that takes ``--manifest`` so they read the same format with the same messages.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from backend.errors import UserError


@dataclass
class ManifestRow:
    line: int  # line number in the CSV (the header is line 1)
    cells: dict[str, str]
    vv: list[str]
    vh: list[str]
    season: tuple[dt.date, dt.date] | None


def parse_date(text: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise UserError(f"{option} {text!r} is not a date; write it as YYYY-MM-DD") from None


def read_manifest(path: str, required: tuple[str, ...]) -> list[ManifestRow]:
    """Rows with absolute paths (relative ones are relative to the CSV) and an optional season.

    ``required`` names the columns besides ``vv``/``vh`` every row must fill (e.g. ``("out",)``).
    """
    manifest = Path(path)
    if not manifest.is_file():
        raise UserError(f"{{param:manifest}} {path} does not exist; give a CSV with columns vv, vh, {', '.join(required)}", param="manifest")
    header = ",".join(("vv", "vh") + required) + "[,season_start,season_end]"
    try:
        with manifest.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            columns = [c.strip().lower() for c in reader.fieldnames or []]
            missing = [c for c in ("vv", "vh") + required if c not in columns]
            if missing:
                raise UserError(f"{{param:manifest}} {path} lacks column(s) {', '.join(missing)}; the header must be {header}", param="manifest")
            rows = [{k.strip().lower(): (v or "").strip() for k, v in row.items() if k} for row in reader]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"{{param:manifest}} {path} is not a UTF-8 CSV text file ({exc.__class__.__name__}); save it as "
                        f"CSV (UTF-8) with the header {header}", param="manifest") from exc
    if not rows:
        raise UserError(f"{{param:manifest}} {path} has no rows; add one line per scene", param="manifest")
    return [_row(cells, line, manifest, required) for line, cells in enumerate(rows, start=2)]


def _row(cells: dict[str, str], line: int, manifest: Path, required: tuple[str, ...]) -> ManifestRow:
    where = f"{{param:manifest}} {manifest} line {line}"
    if any(not cells.get(c) for c in required) or not (cells.get("vv") or cells.get("vh")):
        raise UserError(f"{where}: give {', '.join(required)} and at least one of vv, vh", param="manifest")
    season = None
    if cells.get("season_start") or cells.get("season_end"):
        if not (cells.get("season_start") and cells.get("season_end")):
            raise UserError(f"{where}: give both season_start and season_end, or neither", param="manifest")
        season = (parse_date(cells["season_start"], f"{where} season_start"),
                  parse_date(cells["season_end"], f"{where} season_end"))
    return ManifestRow(line, cells, _files(cells.get("vv", ""), manifest), _files(cells.get("vh", ""), manifest),
                       season)


def _files(cell: str, manifest: Path) -> list[str]:
    return [str((manifest.parent / p.strip()).resolve()) for p in cell.split(";") if p.strip()]
