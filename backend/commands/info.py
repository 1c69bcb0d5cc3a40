"""``info``: what a Sentinel-1 series holds (layout, polarizations, dates, units, grid, problems, findings)."""

from __future__ import annotations

import argparse

from backend.progress import Reporter


def run(args: argparse.Namespace, reporter: Reporter) -> dict:
    from backend.raster.options import series_from_args  # lazy: keeps --help free of rasterio
    from backend.raster.plausibility import (  # lazy: keeps --help free of rasterio
        ERROR,
        MIN_DATES,
        Finding,
        series_findings,
    )

    with series_from_args(args) as series:
        info = series.info()
        findings = series_findings(series)
        for pol in series.pols:
            distinct = len(set(series.dates[pol]))
            if distinct < MIN_DATES:
                findings.append(Finding(ERROR, "dates", f"{pol} has {distinct} distinct acquisition date(s); "
                                        f"every model needs at least {MIN_DATES} in the season: give one band "
                                        "per acquisition date", param="dates"))
    return with_findings(info, findings)


def with_findings(info: dict, findings: list) -> dict:
    """``info`` plus ``findings`` (every plausibility result); errors also join ``problems``.

    Errors are what ``map`` would refuse, so front ends that stop on ``problems`` stop on them too;
    warnings only appear in ``findings`` (the run would go ahead).
    """
    info["findings"] = [f.as_dict() for f in findings]
    info["problems"] = list(info.get("problems", [])) + [f.message for f in findings if f.level == "error"]
    return info
