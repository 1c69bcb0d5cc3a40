"""Catalogue presets: where Sentinel-1 backscatter lives, under which asset names, in which unit.

Only facts a user needs to choose are kept here; docs/catalogues.md explains accounts, cost and coverage.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from backend.errors import UserError

POLS = ("VV", "VH")


@dataclass(frozen=True)
class Preset:
    """One catalogue: API URL, collection, asset keys per role, and how assets are signed."""

    name: str
    url: str
    collection: str
    assets: dict[str, str]  # role (VV, VH, optional MASK) -> asset key in the items
    signer: str | None = None  # "planetary-computer" or None
    licence: str = ""
    note: str = ""
    extra: dict[str, str] = field(default_factory=dict)


PRESETS: dict[str, Preset] = {
    "planetary-computer": Preset(
        name="planetary-computer", url="https://planetarycomputer.microsoft.com/api/stac/v1",
        collection="sentinel-1-rtc", assets={"VV": "vv", "VH": "vh"}, signer="planetary-computer",
        licence="CC-BY-4.0 (RTC processing by Catalyst/Microsoft); Copernicus Sentinel data terms",
        note="gamma0 radiometrically terrain-corrected, linear power, 10 m COGs; assets signed with short-lived "
             "SAS tokens by the planetary-computer package"),
    "cdse": Preset(
        name="cdse", url="https://stac.dataspace.copernicus.eu/v1", collection="sentinel-1-global-mosaics",
        assets={"VV": "VV", "VH": "VH"},
        licence="Copernicus Sentinel data terms (free, full and open)",
        note="Copernicus Data Space: sentinel-1-grd items are SAFE products that still need calibration and "
             "terrain correction; this preset uses the analysis-ready global mosaics (gamma0, 20 m, "
             "dekadal/monthly composites); assets need a CDSE account (S3 keys or a bearer token)"),
    "custom": Preset(name="custom", url="", collection="", assets={"VV": "vv", "VH": "vh"},
                     note="any STAC API; give --stac-url, --collection and --assets if its keys differ"),
}


def get_preset(name: str) -> Preset:
    """The preset called ``name``.

    Raises:
        UserError: unknown name (lists the known ones).
    """
    try:
        return PRESETS[name]
    except KeyError:
        raise UserError(f"{{param:preset}} {name!r} is unknown; choose one of {', '.join(PRESETS)}",
                        param="preset") from None


def parse_asset_map(text: str | None, default: dict[str, str]) -> dict[str, str]:
    """``VV=vv,VH=vh[,MASK=mask]`` -> role -> asset key, on top of ``default``.

    Args:
        text: the ``--assets`` value, or None for the preset's mapping.
        default: the preset's mapping.

    Returns:
        Mapping with upper-case roles.

    Raises:
        UserError: malformed entry or unknown role.
    """
    mapping = dict(default)
    if not text:
        return mapping
    for entry in text.split(","):
        role, sep, key = entry.partition("=")
        role = role.strip().upper()
        if not sep or not key.strip() or role not in (*POLS, "MASK"):
            raise UserError(f"{{param:assets}} entry {entry!r} is not ROLE=ASSET with ROLE one of VV, VH, MASK; "
                            "write e.g. {param:assets} VV=vv,VH=vh", param="assets")
        mapping[role] = key.strip()
    return mapping
