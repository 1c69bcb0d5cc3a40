"""Temporal compositing to a model's T steps, with gap filling and early-season padding."""

from backend.timeseries.compositing import composite, composite_series, season_windows

__all__ = ["composite", "composite_series", "season_windows"]
