"""Sentinel-1 from STAC catalogues: search, per-date mosaics on one grid, a series ``info``/``map`` read.

:func:`backend.catalogue.fetch.fetch` is the entry point (the ``fetch`` verb). Modules:
:mod:`.presets` (Planetary Computer, Copernicus Data Space, any STAC API), :mod:`.area` (area of interest,
output grid), :mod:`.search` (pystac-client with retries, orbit choice, nearest season),
:mod:`.grouping` (same-pass frames into one date), :mod:`.download` (odc-stac + dask windowed reads,
resumable cache) and :mod:`.writer` (COG stacks and fetch.json). See docs/catalogues.md.
"""
