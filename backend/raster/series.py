"""A Sentinel-1 VV/VH time series spread over one or many files, read lazily by window.

Three layouts are supported (see docs/reading.md):

* ``'a'``: one multi-band file per polarization, one band per date;
* ``'b'``: one single-band file per date and polarization;
* ``'c'``: one interleaved stack whose band descriptions carry polarization and date (GEE exports).

:func:`open_series` takes the files by role (``vv``, ``vh``, ``stack``); :func:`detect` guesses the roles
from the paths alone. Both check everything that can be checked without reading the whole scene (dates,
grids, units, valid data) and return a :class:`SeriesReader` whose :meth:`SeriesReader.read` returns dB.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from pathlib import Path
from types import TracebackType
from typing import Any, Sequence

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.io import DatasetReader
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from backend.errors import UserError
from backend.raster import exports, sources, threads, units
from backend.raster.grid import Grid, check_georeferenced, check_same_grid, grid_difference
from backend.raster.names import POLARIZATIONS
from backend.raster.sources import BandRef

_ZERO_FILL_WARNING = 0.1
_DATES_HINT = ("give the acquisition dates in {param:dates}: a file with one date per line, or "
               "2022-01-09,2022-01-21,... (one per band, in band order)")


class SeriesReader:
    """Checked access to one time series; use :func:`open_series` or :func:`detect` to make one.

    Holds open rasterio datasets, which are not thread-safe: use one reader per thread.

    Attributes: ``layout`` ('a'|'b'|'c'), ``pols`` (canonical order), ``dates`` (pol -> sorted dates),
    ``units`` (pol -> 'dB'|'linear' as found in the source), ``grid``, ``nodata`` (of the first file),
    ``problems`` (non-fatal findings, for the user), ``files`` (pol -> paths), ``aligned`` (resampled paths).
    """

    def __init__(self, layout: str, bands: dict[str, list[BandRef]], datasets: dict[str, DatasetReader],
                 readers: dict[str, Any], file_units: dict[str, str], grid: Grid,
                 problems: list[str], aligned: list[str]) -> None:
        self.layout = layout
        self.pols = [p for p in POLARIZATIONS if p in bands]
        self._bands = {p: sorted(bands[p], key=lambda b: (b.date, b.path, b.band)) for p in self.pols}
        self.dates = {p: [b.date for b in self._bands[p]] for p in self.pols}
        self.units = {p: file_units[self._bands[p][0].path] for p in self.pols}
        self.files = {p: list(dict.fromkeys(b.path for b in self._bands[p])) for p in self.pols}
        self.grid = grid
        first_path = next(iter(datasets))
        self.nodata = datasets[first_path].nodata
        self.problems = problems
        self.aligned = aligned
        self.unit_notes: list[str] = []
        self._datasets = datasets
        self._readers = readers
        self._file_units = file_units

    # -- reading -----------------------------------------------------------------------------------
    def read(self, pol: str, window: Window | None = None,
             between: tuple[dt.date, dt.date] | None = None, as_power: bool = False) -> np.ndarray:
        """(T, h, w) float32 dB of ``pol`` in ``window`` (whole grid if None), bands sorted by date.

        NaN marks nodata, NaN in the source and non-positive linear power. ``between`` (inclusive)
        restricts the dates read, e.g. to one season of a multi-year stack; see :meth:`dates_between`.
        ``as_power`` gives linear power instead of dB (for compositing: a linear file is then never
        converted to dB and back); non-finite power is NaN too.
        """
        window = self._checked_window(window)
        selected = self._selected_bands(pol, between)
        # every band position is written below, so it needs no NaN fill first
        out = np.empty((len(selected), int(window.height), int(window.width)), dtype=np.float32)
        by_file: dict[str, list[tuple[int, BandRef]]] = defaultdict(list)
        for position, ref in enumerate(selected):
            by_file[ref.path].append((position, ref))
        for path, entries in by_file.items():
            positions = [position for position, _ in entries]
            first, last = positions[0], positions[-1] + 1
            contiguous = positions == list(range(first, last))  # read straight into the result
            target = out[first:last] if contiguous else None
            data = sources.read_with_nan(self._readers[path], [ref.band for _, ref in entries], window,
                                         out=target)
            unit = self._file_units[path]
            values = units.to_power(data, unit) if as_power else units.to_db(data, unit)
            np.copyto(values, np.float32(np.nan), where=np.isinf(values))  # NaN is already NaN; only inf is left
            if values is not target:
                out[positions] = values
        return out

    def stored_in_db(self, pol: str) -> bool:
        """True when every file of ``pol`` holds dB, so :meth:`read` returns its values unconverted."""
        return all(self._file_units[path] == units.DB for path in self.files[pol.upper()])

    def stream_cache_bytes(self, tile: int, overlap: int, budget: int) -> int:
        """GDAL block cache a row-by-row pass of ``tile`` px tiles needs so no block is decoded twice.

        Per file (all its bands: a pixel-interleaved file decodes every band of a block), the blocks one
        strip of tiles touches that the next tile reuses (two block columns of the strip's rows; the whole
        width for a striped file, whose blocks span it) and the block row the next strip shares with this
        one. When that exceeds ``budget`` an LRU cache would evict the shared block row before the next strip
        comes back to it, so only the reuse within a strip is kept: more would cost memory and save nothing.

        Args:
            tile: the tile side in pixels.
            overlap: the overlap between tiles.
            budget: the most bytes the cache may take.

        Returns:
            Bytes for ``GDAL_CACHEMAX``, between 16 MB and ``budget``.
        """
        within, across = 0, 0
        rows = tile - overlap  # the fresh rows a strip reads
        for reader in self._readers.values():
            block_rows, block_cols = reader.block_shapes[0]
            pixel = sum(np.dtype(t).itemsize for t in reader.dtypes)
            touched_rows = min(rows + 2 * block_rows, self.grid.height)
            touched_cols = self.grid.width if 3 * block_cols >= self.grid.width else 2 * block_cols
            within += touched_rows * touched_cols * pixel
            across += block_rows * self.grid.width * pixel if touched_cols < self.grid.width else 0
        need = within + across if within + across <= budget else within
        return int(min(max(need * 1.25, 16 * 2**20), budget))  # a quarter more for the outputs' blocks

    def block_cache(self, tile: int, overlap: int, budget: int) -> rasterio.Env:
        """A ``with`` context whose GDAL block cache is :meth:`stream_cache_bytes` (restored on exit)."""
        return rasterio.Env(GDAL_CACHEMAX=self.stream_cache_bytes(tile, overlap, budget))

    def dates_between(self, pol: str, between: tuple[dt.date, dt.date] | None = None) -> list[dt.date]:
        """Dates of the bands :meth:`read` returns for the same ``between``."""
        return [ref.date for ref in self._selected_bands(pol, between)]

    def _selected_bands(self, pol: str, between: tuple[dt.date, dt.date] | None) -> list[BandRef]:
        pol = pol.upper()
        if pol not in self._bands:
            raise UserError(f"polarization {pol} is not in this series (it has {', '.join(self.pols)}); "
                            f"add the {pol} file(s)")
        refs = self._bands[pol]
        if between is None:
            return refs
        first, last = between
        return [ref for ref in refs if first <= ref.date <= last]

    def _checked_window(self, window: Window | None) -> Window:
        if window is None:
            return Window(0, 0, self.grid.width, self.grid.height)
        col, row = int(window.col_off), int(window.row_off)
        if col < 0 or row < 0 or col + window.width > self.grid.width or row + window.height > self.grid.height:
            raise ValueError(f"window {window} lies outside the {self.grid.width}x{self.grid.height} grid")
        return window

    # -- description ------------------------------------------------------------------------------
    def info(self) -> dict:
        """JSON-able summary for the `info` verb and the plugin."""
        return {
            "layout": self.layout,
            "polarizations": list(self.pols),
            "dates": {p: [d.isoformat() for d in self.dates[p]] for p in self.pols},
            "n_dates": {p: len(self.dates[p]) for p in self.pols},
            "date_range": {p: [self.dates[p][0].isoformat(), self.dates[p][-1].isoformat()]
                           for p in self.pols},
            "units": dict(self.units),
            **self.grid.info(),
            "nodata": sources.nodata_label(self.nodata),
            "files": {p: list(self.files[p]) for p in self.pols},
            "aligned": list(self.aligned),
            "problems": list(self.problems),
        }

    def close(self) -> None:
        for reader in self._readers.values():
            if isinstance(reader, WarpedVRT):
                reader.close()
        for dataset in self._datasets.values():
            dataset.close()

    def __enter__(self) -> SeriesReader:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


# -- opening ---------------------------------------------------------------------------------------
def open_series(vv: Sequence[str] | str | None = None, vh: Sequence[str] | str | None = None,
                stack: str | None = None, dates: Sequence[dt.date] | None = None, align: bool = False,
                require: Sequence[str] = ()) -> SeriesReader:
    """Open and check a VV/VH series given by role.

    ``vv`` / ``vh``: one multi-band file (layout a) or one file per date (layout b) each; ``stack``: one
    interleaved file (layout c). ``dates`` (one per band of each polarization, in band order) replace
    the dates found in the files. ``align`` resamples layers whose grid differs from the first layer's
    (bilinear) instead of stopping. ``require`` lists polarizations that must be present.
    """
    vv_paths = exports.expand_inputs(_as_list(vv), "VV")
    vh_paths = exports.expand_inputs(_as_list(vh), "VH")
    stacks = _as_list(stack)
    if stack and (vv_paths or vh_paths):
        raise UserError("give either {param:stack} or {param:vv}/{param:vh}, not both", param="stack")
    if not (stack or vv_paths or vh_paths):
        raise UserError("no input rasters: give {param:vv} and/or {param:vh} files, or one {param:stack} file", param="vv")
    paths = stacks if stack else vv_paths + vh_paths
    datasets = _open_all(paths)
    try:
        return _build_reader(datasets, stacks, vv_paths, vh_paths, dates, align, require)
    except BaseException:
        for dataset in datasets.values():
            dataset.close()
        raise


def detect(paths: Sequence[str], dates: Sequence[dt.date] | None = None, align: bool = False,
           require: Sequence[str] = ()) -> SeriesReader:
    """Open a series from paths alone, guessing each file's role from its bands and name."""
    paths = exports.expand_inputs(_as_list(paths))
    if not paths:
        raise UserError("no input rasters given; pass one or more GeoTIFF paths")
    roles: dict[str, list[str]] = {"VV": [], "VH": [], "stack": []}
    for path in paths:
        roles[_guess_role(path)].append(path)
    if roles["stack"] and (roles["VV"] or roles["VH"]):
        raise UserError(f"{roles['stack'][0]}: holds both VV and VH bands (an interleaved stack); "
                        "give a stack alone, without single-polarization files (several stacks, one per date, are fine)",
                        param="stack")
    if roles["stack"]:  # one stack, or one VV+VH file per date (openEO)
        return open_series(stack=roles["stack"], dates=dates, align=align, require=require)
    return open_series(vv=roles["VV"], vh=roles["VH"], dates=dates, align=align, require=require)


def _is_stack(dataset: DatasetReader) -> bool:
    band_pols = {sources.band_polarization(dataset, b) for b in range(1, dataset.count + 1)}
    return {"VV", "VH"} <= band_pols


def _guess_role(path: str) -> str:
    dataset = sources.open_raster(path)
    try:
        if _is_stack(dataset):
            return "stack"
        pol = sources.file_polarization(dataset, path)
    finally:
        dataset.close()
    if pol is None:
        name = Path(path)
        raise UserError(f"{path}: cannot tell whether it holds VV or VH (nothing in its band descriptions, "
                        f"metadata or file name); rename it, e.g. {name.stem}_VV{name.suffix}, "
                        "or give it with {param:vv} / {param:vh}", param="vv")
    return pol


def _as_list(value: Sequence[str] | str | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (str, Path)):
        return [str(value)]
    return [str(v) for v in value]


def _open_all(paths: list[str]) -> dict[str, DatasetReader]:
    duplicates = [p for p, n in Counter(paths).items() if n > 1]
    if duplicates:
        raise UserError(f"{duplicates[0]}: given more than once; give each file once")
    datasets: dict[str, DatasetReader] = {}
    try:
        for path in paths:
            datasets[path] = sources.open_raster(path)
    except UserError:
        for dataset in datasets.values():
            dataset.close()
        raise
    return datasets


def _build_reader(datasets: dict[str, DatasetReader], stacks: list[str], vv_paths: list[str],
                  vh_paths: list[str], dates: Sequence[dt.date] | None, align: bool,
                  require: Sequence[str]) -> SeriesReader:
    if stacks:
        bands = defaultdict(list)
        for path in stacks:
            for pol, refs in _stack_bands(path, datasets[path]).items():
                bands[pol] += refs
        bands = dict(bands)
        layout = "c"
    else:
        bands = {pol: _pol_bands(pol, paths, datasets) for pol, paths in (("VV", vv_paths), ("VH", vh_paths))
                 if paths}
        single_band = all(datasets[p].count == 1 for p in vv_paths + vh_paths)
        layout = "b" if single_band and max(len(vv_paths), len(vh_paths)) > 1 else "a"
    _check_required(bands, require, _file_list(stacks or vv_paths + vh_paths))
    bands = _apply_dates(bands, dates) if dates else bands
    _check_dates_found(bands)
    grid, readers, aligned = _grids(datasets, align)
    file_units, problems, notes = _inspect_values(datasets, bands)
    problems = _series_problems(bands, datasets, aligned) + problems
    reader = SeriesReader(layout, bands, datasets, readers, file_units, grid, problems, aligned)
    reader.unit_notes = notes  # declared units the values overruled (plausibility warnings)
    return reader


def _pol_bands(pol: str, paths: list[str], datasets: dict[str, DatasetReader]) -> list[BandRef]:
    refs = []
    for path in paths:
        dataset = datasets[path]
        for band in range(1, dataset.count + 1):
            labelled = sources.band_polarization(dataset, band)
            if labelled and labelled != pol and _is_stack(dataset):
                raise UserError(f"{path}: holds both VV and VH bands (an interleaved stack); "
                                "give it with {param:stack} instead", param="stack")
            if labelled and labelled != pol:
                raise UserError(f"{path}: band {band} is labelled {labelled} "
                                f"({sources.band_label(dataset, band)!r}) but the file was given as {pol}; "
                                f"give it with --{labelled.lower()} instead")
            refs.append(BandRef(path, band, pol, sources.band_date(dataset, band, path),
                                sources.band_label(dataset, band)))
    return refs


def _stack_bands(path: str, dataset: DatasetReader) -> dict[str, list[BandRef]]:
    bands: dict[str, list[BandRef]] = defaultdict(list)
    for band in range(1, dataset.count + 1):
        pol = sources.band_polarization(dataset, band)
        if pol is None and exports.is_auxiliary_band(sources.band_label(dataset, band)):
            continue  # e.g. the incidence angle band of an Earth Engine toBands() export
        if pol is None:
            raise UserError(f"{path}: band {band} ({sources.band_label(dataset, band)!r}) names no polarization; "
                            "a stack needs band descriptions like VV_20220109 and VH_20220109, "
                            "otherwise give one file per polarization with {param:vv} and {param:vh}", param="vv")
        bands[pol].append(BandRef(path, band, pol, sources.band_date(dataset, band, path),
                                  sources.band_label(dataset, band)))
    return dict(bands)


def _check_required(bands: dict[str, list[BandRef]], require: Sequence[str], where: str) -> None:
    missing = [p for p in require if p not in bands]
    if missing:
        found = ", ".join(p for p in POLARIZATIONS if p in bands) or "no polarization"
        raise UserError(f"only {found} found in {where}; this needs {' and '.join(require)}: "
                        f"add the {' and '.join(missing)} data (--{missing[0].lower()} FILE)")


def _apply_dates(bands: dict[str, list[BandRef]], dates: Sequence[dt.date]) -> dict[str, list[BandRef]]:
    """Give the k-th band of each polarization (in the order given) the k-th date of ``dates``."""
    result = {}
    for pol, refs in bands.items():
        if len(refs) != len(dates):
            raise UserError(f"{{param:dates}} has {len(dates)} dates but {pol} has {len(refs)} bands "
                            f"({', '.join(dict.fromkeys(Path(r.path).name for r in refs))}); "
                            "give exactly one date per band of each polarization", param="dates")
        result[pol] = [BandRef(r.path, r.band, r.pol, d, r.description) for r, d in zip(refs, dates)]
    return result


def _check_dates_found(bands: dict[str, list[BandRef]]) -> None:
    for refs in bands.values():
        for ref in refs:
            if ref.date is None:
                label = f" ({ref.description!r})" if ref.description else ""
                raise UserError(f"{ref.path}: no acquisition date found for band {ref.band}{label} "
                                f"in its description, metadata or file name; {_DATES_HINT}. "
                                f"{exports.schemes_hint([ref.description, Path(ref.path).name])}", param="dates")


def _grids(datasets: dict[str, DatasetReader], align: bool) -> tuple[Grid, dict[str, Any], list[str]]:
    """The first layer's grid, a reader per file on that grid, and the files that were resampled."""
    reference_path, reference_set = next(iter(datasets.items()))
    reference = Grid.of(reference_set)
    check_georeferenced(reference_path, reference)
    readers: dict[str, Any] = {}
    aligned = []
    for path, dataset in datasets.items():
        grid = Grid.of(dataset)
        if grid_difference(grid, reference) is None:
            readers[path] = dataset
        elif not align:
            check_same_grid(path, grid, reference_path, reference)
        else:
            check_georeferenced(path, grid)
            readers[path] = _warped(dataset, reference)
            aligned.append(path)
    return reference, readers, aligned


def _warped(dataset: DatasetReader, reference: Grid) -> WarpedVRT:
    """Bilinear view of ``dataset`` on the reference grid; outside its footprint is NaN."""
    return WarpedVRT(dataset, crs=reference.crs, transform=reference.transform, width=reference.width,
                     height=reference.height, resampling=Resampling.bilinear, dtype="float32",
                     src_nodata=dataset.nodata, nodata=np.nan)


def _inspect_values(datasets: dict[str, DatasetReader],
                    bands: dict[str, list[BandRef]]) -> tuple[dict[str, str], list[str], list[str]]:
    """Unit of each file (all must agree), problems found in the sampled values, unit corrections.

    Files are inspected two at a time where threads are allowed (each thread its own datasets): opening VV
    and VH of a 57-date scene took 0.067 s instead of 0.074 s at 512², 0.085 s instead of 0.096 s at 1024²
    (medians of 10). The first problem in file order is raised.
    """
    date_of = {(r.path, r.band): r.date for refs in bands.values() for r in refs}
    file_units: dict[str, str] = {}
    problems: list[str] = []
    notes: list[str] = []

    def inspect(item: tuple[str, DatasetReader]) -> tuple[str, list[str], str | None]:
        return _inspect_file(item[0], item[1], date_of)

    found = threads.map_each(inspect, datasets.items(), len(datasets) > 1 and threads.threads_allowed())
    for path, (unit, file_problems, note) in zip(datasets, found):
        file_units[path] = unit
        problems += file_problems
        notes += [note] if note else []
    _check_same_unit(file_units)
    return file_units, problems, notes


def _inspect_file(path: str, dataset: DatasetReader,
                  date_of: dict[tuple[str, int], dt.date]) -> tuple[str, list[str], str | None]:
    """Unit of one file; stops when no pixel is valid, reports bands that look empty and zero fill."""
    name = Path(path).name
    used = [b for b in range(1, dataset.count + 1) if (path, b) in date_of]  # not e.g. an angle band
    samples = sources.sample_bands(dataset, used)
    empty = [b for b, sample in zip(used, samples) if sample.size == 0]
    problems = []
    if len(empty) == len(used):
        samples = [sources.scan_valid_values(dataset, b) for b in empty]
        if not any(sample.size for sample in samples):
            raise UserError(f"{path}: every pixel is nodata (nodata value {dataset.nodata}); "
                            "check the file's nodata setting or re-export the data")
    else:
        problems += [f"{name}: band {b} ({date_of[(path, b)]}) has no valid pixel in the sampled patches; "
                     "it is probably empty and counts as a missing acquisition" for b in empty]
    unit, zero_fraction, note = sources.file_unit(dataset, path, [s for s in samples if s.size])
    if unit == units.DB and zero_fraction > _ZERO_FILL_WARNING and dataset.nodata is None:
        problems.append(f"{name}: {zero_fraction:.0%} of sampled pixels are exactly 0 and no nodata value "
                        "is set; if 0 marks no data, set it (gdal_edit.py -a_nodata 0)")
    return unit, problems, note


def _check_same_unit(file_units: dict[str, str]) -> None:
    first_path, first_unit = next(iter(file_units.items()))
    for path, unit in file_units.items():
        if unit != first_unit:
            raise UserError(f"mixed units: {Path(path).name} holds {unit} but {Path(first_path).name} holds "
                            f"{first_unit}; convert all files of the series to the same unit")


def _series_problems(bands: dict[str, list[BandRef]], datasets: dict[str, DatasetReader],
                     aligned: list[str]) -> list[str]:
    problems = []
    if "VV" in bands and "VH" in bands:
        vv_dates = Counter(r.date for r in bands["VV"])
        vh_dates = Counter(r.date for r in bands["VH"])
        if vv_dates != vh_dates:
            only_vv = sorted((vv_dates - vh_dates).elements())
            only_vh = sorted((vh_dates - vv_dates).elements())
            problems.append("VV and VH dates differ (each polarization is composited on its own dates): "
                            f"only VV {_date_list(only_vv)}; only VH {_date_list(only_vh)}")
    for pol, refs in bands.items():
        repeated = sorted(d for d, n in Counter(r.date for r in refs).items() if n > 1)
        if repeated:
            problems.append(f"{pol}: several bands share a date ({_date_list(repeated)}); "
                            "they are averaged when compositing")
    nodata_values = {str(d.nodata) for d in datasets.values()}
    if len(nodata_values) > 1:
        problems.append(f"files use different nodata values ({', '.join(sorted(nodata_values))}); "
                        "each file's own value is honoured")
    problems += [f"{Path(p).name}: grid differs from the first layer's; resampled (bilinear) onto it"
                 for p in aligned]
    return problems


def _file_list(paths: list[str], limit: int = 3) -> str:
    shown = ", ".join(paths[:limit])
    return shown + (f" and {len(paths) - limit} more files" if len(paths) > limit else "")


def _date_list(dates: list[dt.date], limit: int = 6) -> str:
    if not dates:
        return "none"
    shown = ", ".join(d.isoformat() for d in dates[:limit])
    return shown + (f" and {len(dates) - limit} more" if len(dates) > limit else "")
