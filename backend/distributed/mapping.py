"""``map --cluster``: one scene mapped block by block on a Dask cluster, with the single-process outputs.

Order of work, so that bad input fails before any block runs: connect (unreachable scheduler: error
within 30 s), open and check the inputs and the season here, check every worker (backend installed,
same model checksum), load the model once per worker, then run the blocks that the store does not hold
yet, then assemble and commit. The first block that cannot read the inputs stops the run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from backend import modelstore
from backend.atomic import AtomicOutputs
from backend.contract.verbs.map import VERB as MAP_VERB
from backend.distributed.assemble import assemble
from backend.distributed.blocks import DEFAULT_BLOCK_PX, Block, plan_blocks
from backend.distributed.cluster import check_workers, connect, dashboard_link, load_on_workers
from backend.distributed.store import BlockStore, RunLock, run_key
from backend.distributed.worker import PLUGIN_NAME, BlockJob, ModelSpec, map_block, model_checksum
from backend.errors import UserError
from backend.inference.loader import LoadedModel, default_model_name
from backend.inference.mapping import MapOptions, _run_record, check_choice
from backend.inference.outputs import MapWriter
from backend.inference.result_checks import result_checks
from backend.modelstore import physical_cores
from backend.progress import Reporter
from backend.raster.options import series_from_args
from backend.raster.pixel_area import pixel_area_m2
from backend.raster.plausibility import check_for_model
from backend.tiles.engines import Engine
from backend.tiles.pipeline import StreamStats
from backend.tiles.tiling import TileGrid, choose_tile
from backend.writers.geotiff import disk_full_error

SERIES_KEYS = ("vv", "vh", "stack", "dates", "align", "paths")
POLL_S = 0.5


def _absolute(path: str) -> str:
    """Local paths made absolute (workers run elsewhere); GDAL virtual paths and URLs kept as given."""
    if path.startswith("/vsi") or "://" in path:
        return path
    return str(Path(path).expanduser().resolve())


def series_options(args: argparse.Namespace) -> dict:
    """The map verb's input options, with local paths absolute, for the workers to open the same series."""
    series = {key: getattr(args, key, None) for key in SERIES_KEYS}
    for key in ("vv", "vh", "paths"):
        series[key] = [_absolute(p) for p in series[key]] if series[key] else series[key]
    series["stack"] = _absolute(series["stack"]) if series["stack"] else None
    series["paths"] = series["paths"] or []
    return series


def map_on_cluster(args: argparse.Namespace, options: MapOptions, out: str, reporter: Reporter,
                   block_px: int = DEFAULT_BLOCK_PX) -> dict:
    """Map the series of ``args`` into ``out`` on the cluster named by ``args.cluster``.

    Args:
        args: the map verb's arguments (series options, model, engine, device, threads, overwrite, cluster).
        options: season, as-of, tiling, batch and heat map, as for the single-process run.
        out: output folder.
        reporter: progress (blocks done/total with km²/min and ETA, then assembly).
        block_px: block core side in pixels.

    Returns:
        The run record written to run.json, with a ``distributed`` section.

    Raises:
        UserError: bad input, cluster or worker problems, a full disk, or a concurrent run in ``out``.
    """
    model_name = args.model or default_model_name()
    folder = modelstore.resolve(model_name)
    card = modelstore.load_card(folder, verify=True)
    model_ref = str(folder) if Path(model_name).expanduser().exists() else model_name
    series = series_options(args)
    with series_from_args(argparse.Namespace(**series), require=card["inputs"]["polarizations"]) as reader:
        try:
            with AtomicOutputs(out, args.overwrite, family=MAP_VERB.outputs) as outputs:
                run_json = outputs.path(MAP_VERB.output("run"))  # claimed first: refuses old results before any work
                with RunLock(outputs.out_dir):
                    run = _map(args, options, reader, card, folder, model_ref, series, outputs, reporter, block_px)
                    run_json.write_text(json.dumps(run, indent=2))
                    outputs.commit()
                    BlockStore.discard(outputs.out_dir)
        except Exception as exc:  # OSError, or GDAL's own error types for a full disk
            full = disk_full_error(out, exc)
            if full is not None:
                raise full from exc
            raise
    return run


def _map(args: argparse.Namespace, options: MapOptions, reader: Any, card: dict, folder: Path, model_ref: str,
         series: dict, outputs: AtomicOutputs, reporter: Reporter, block_px: int) -> dict:
    start = time.perf_counter()
    placeholder = LoadedModel(card["name"], folder, card, Engine("pending", "cpu", 0, lambda x: x))
    choice = check_choice(reader, placeholder, options, reporter)  # the single-process run's choices
    season = choice.span
    input_checks = check_for_model(reader, placeholder.pols, placeholder.steps, season, options.as_of)
    height, width, multiple = reader.grid.height, reader.grid.width, placeholder.size_multiple
    grid = TileGrid.for_scene(height, width, choose_tile(height, width, options.tile, options.overlap, multiple),
                              options.overlap, multiple)
    checksum = model_checksum(card)
    client, cluster = connect(args.cluster)
    try:
        workers = check_workers(client, model_ref, checksum)
        local_n = len(workers) if cluster is not None else None
        threads = args.threads or (max(1, physical_cores() // local_n) if local_n else None)
        spec = ModelSpec(model_ref, args.engine, args.device, threads, options.heatmap, args.precision)
        engine = load_on_workers(client, spec)
        link, address = dashboard_link(client), client.scheduler.address
        reporter.event("cluster", address=address, workers=len(workers), dashboard=link)
        reporter.log(f"Dask cluster {address}: {len(workers)} workers; dashboard: "
                     f"{link or 'not served (install bokeh on the scheduler)'}")
        with_heatmap = options.heatmap and engine["heatmap"]
        job = BlockJob(series, list(choice.windows), options.as_of, grid, options.batch, with_heatmap)
        blocks = plan_blocks(grid, block_px)
        key = run_key({"series": series, "checksum": checksum, "windows": job.windows, "as_of": options.as_of,
                       "tile": grid.shape, "overlap": grid.overlap, "batch": options.batch, "block_px": block_px,
                       "heatmap": with_heatmap, "shape": [grid.height, grid.width]})
        store = BlockStore(outputs.out_dir, key)
        pixel_km2 = pixel_area_m2(reader.grid) / 1e6
        totals = _run_blocks(client, job, blocks, store, reporter, pixel_km2)
    finally:
        _close(client, cluster)
    assembly_start = time.perf_counter()
    writer = MapWriter(outputs, reader.grid, placeholder.threshold, with_heatmap)
    try:
        assemble(store, blocks, writer, with_heatmap, reporter)
        writer.close()
    except BaseException:
        writer.abort()
        raise
    totals["assemble_seconds"] = round(time.perf_counter() - assembly_start, 3)
    if writer.valid_pixels == 0:
        raise UserError(f"every pixel of the input is nodata in the season {season[0]} to {season[1]}; "
                        "check the files' nodata value and the season")
    model = LoadedModel(card["name"], folder, card,
                        Engine(engine["engine"], engine["device"], engine["threads"], lambda x: x,
                               info=engine["info"], precision=engine["precision"]))
    stats = StreamStats(grid.n_tiles, totals["tiles_inferred"], totals["seconds"], totals["model_seconds"])
    run = _run_record(reader, model, options, grid, stats, writer, season, time.perf_counter() - start,
                      with_heatmap, outputs.out_dir) | {"season_choice": choice.record()}
    run.update(input_checks=input_checks, checks=result_checks(run, writer.histogram, pixel_area_m2(reader.grid)))
    for warning in [c["message"] for c in input_checks] + run["checks"]["warnings"]:
        reporter.log(f"warning: {warning}")
    run["distributed"] = {"cluster": args.cluster, "scheduler": address, "workers": len(workers), "dashboard": link, "block_px": block_px,
                          "blocks": len(blocks), "blocks_seconds": round(totals.pop("seconds"), 3), **totals}
    return run


def _close(client: Any, cluster: Any) -> None:
    """Leave a shared scheduler as found: unregister the model plugin (workers joining later without the
    backend could not start with it), then disconnect; a LocalCluster is shut down."""
    if cluster is None:
        try:
            client.unregister_worker_plugin(PLUGIN_NAME)
        except (ValueError, KeyError, OSError):
            pass  # never registered (the checks failed first) or the scheduler is gone
    client.close()
    if cluster is not None:
        cluster.close()


def _run_blocks(client: Any, job: BlockJob, blocks: list[Block], store: BlockStore, reporter: Reporter,
                pixel_km2: float) -> dict:
    """Submit the blocks the store lacks, store each as it finishes, report progress; cancel on any error."""
    from distributed import wait

    todo = [b for b in blocks if b.key not in store.done]
    reporter.stage("map", len(blocks), f"{len(blocks)} blocks ({len(blocks) - len(todo)} already done)")
    if len(todo) < len(blocks):
        reporter.advance(len(blocks) - len(todo), "blocks kept from an earlier run")
    futures = {client.submit(map_block, job, b, key=f"s1rm-block-{store.key}-{b.key}", pure=False): b
               for b in todo}
    totals = {"tiles_inferred": 0, "tiles_computed": 0, "model_seconds": 0.0, "seconds": 0.0,
              "blocks_run": 0, "blocks_reused": len(blocks) - len(todo), "peak_rss_mb_per_worker": {}}
    t0, done_km2, pending = time.monotonic(), 0.0, set(futures)
    try:
        while pending:
            reporter.check_cancel()
            try:
                finished, pending = wait(pending, timeout=POLL_S, return_when="FIRST_COMPLETED")
            except TimeoutError:
                continue
            for future in finished:
                block = futures[future]
                values, stats = _result(future, block)
                store.put(block.key, values)
                future.release()
                _add(totals, stats)
                done_km2 += block.pixels * pixel_km2
                _progress(reporter, done_km2, time.monotonic() - t0, totals["blocks_run"], len(todo), len(blocks))
    except BaseException:
        client.cancel(list(pending))
        raise
    totals["seconds"] = time.monotonic() - t0
    return totals


def _result(future: Any, block: Block) -> tuple[Any, dict]:
    from distributed import KilledWorker

    try:
        return future.result()
    except KilledWorker as exc:
        raise UserError(f"block {block.key} (rows {block.row0}-{block.row1}, columns {block.col0}-{block.col1}) "
                        f"killed its worker several times ({exc}); give the workers more memory, or a smaller "
                        "{param:block}; finished blocks are kept, so rerunning the same command resumes",
                        param="block") from None


def _add(totals: dict, stats: dict) -> None:
    totals["tiles_inferred"] += stats["tiles_inferred"]
    totals["tiles_computed"] += stats["tiles"]
    totals["model_seconds"] += stats["model_seconds"]
    totals["blocks_run"] += 1
    peaks = totals["peak_rss_mb_per_worker"]
    peaks[stats["worker"]] = max(peaks.get(stats["worker"], 0.0), stats["peak_rss_mb"])


def _progress(reporter: Reporter, km2: float, seconds: float, run: int, to_run: int, total: int) -> None:
    """One progress step plus a ``blocks`` event; rate and ETA count only blocks run in this session."""
    rate = km2 / (seconds / 60) if seconds > 0 else None
    eta = seconds / run * (to_run - run) if run else None
    done = total - to_run + run
    reporter.advance(1, f"block {done}/{total}" + (f", {rate:.1f} km²/min" if rate else ""))
    reporter.event("blocks", done=done, total=total, km2_per_minute=None if rate is None else round(rate, 2),
                   eta=None if eta is None else round(eta, 1))
