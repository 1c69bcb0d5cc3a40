"""Tiled, streaming inference over whole scenes and the styled GeoTIFF outputs (see docs/mapping.md)."""
