"""Temporal compositing to a model's T steps, with gap filling and early-season padding."""

from backend.timeseries.channels import CANONICAL_POLS, select_pols
from backend.timeseries.compositing import composite, composite_series, season_windows

__all__ = ["CANONICAL_POLS", "composite", "composite_series", "season_windows", "select_pols"]
