"""Compare a rice map with a reference strip by strip: error.tif (+ error.qml) and metrics.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from backend.atomic import AtomicOutputs
from backend.contract.verbs.evaluate import VERB as EVALUATE
from backend.errors import UserError
from backend.evaluation.metrics import binary_metrics, confusion_matrix, error_codes
from backend.evaluation.reference import RICE, UNLABELLED, open_reference
from backend.progress import Reporter
from backend.raster.pixel_area import pixel_area_m2
from backend.writers.geotiff import StripWriter, disk_full_error
from backend.writers.styles import write_style

STRIP_ROWS = 256


def _open_prediction(path: str) -> Any:
    import rasterio

    from backend.raster.grid import Grid  # lazy: rasterio (via backend.raster.grid)

    if not Path(path).exists():
        raise UserError(f"{{param:pred}} {path} does not exist; give the rice.tif written by `map`", param="pred")
    try:
        dataset = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise UserError(f"{{param:pred}} {path} cannot be opened as a raster ({exc})", param="pred") from exc
    if dataset.count != 1 or dataset.dtypes[0] != "uint8":
        dataset.close()
        raise UserError(f"{{param:pred}} {path} must be a one-band uint8 rice map (1 rice, 0 other, 255 nodata) "
                        "such as the rice.tif written by `map`", param="pred")
    return dataset, Grid.of(dataset)


def _strip_windows(height: int, width: int) -> list:
    from rasterio.windows import Window

    return [Window(0, row, width, min(STRIP_ROWS, height - row)) for row in range(0, height, STRIP_ROWS)]


def check_inputs(pred: str, reference: str, class_field: str | None = None,
                 rice_values: Sequence[str] | None = None) -> None:
    """Open the rice map and the reference as :func:`evaluate_map` does, then close them; nothing is written.

    Raises:
        UserError: the map or the reference cannot be used, naming the parameter.
    """
    dataset, grid = _open_prediction(pred)
    try:
        open_reference(reference, grid, class_field, rice_values).close()
    finally:
        dataset.close()


def evaluate_map(pred: str, reference: str, out_dir: str, class_field: str | None = None,
                 rice_values: Sequence[str] | None = None, overwrite: bool = False,
                 reporter: Reporter | None = None) -> dict:
    """Write ``error.tif``, ``error.qml`` and ``metrics.json`` to ``out_dir``; returns the metrics."""
    reporter = reporter or Reporter("none")
    dataset, grid = _open_prediction(pred)
    try:
        labels = open_reference(reference, grid, class_field, rice_values)
    except BaseException:
        dataset.close()
        raise
    try:
        with AtomicOutputs(out_dir, overwrite) as outputs:
            writer = StripWriter(outputs.path(EVALUATE.output("error", "tif")), grid, "uint8", 0, "nearest")
            try:
                matrix, predicted_rice, reference_rice, bad_values = _compare_strips(dataset, labels, writer,
                                                                                     reporter)
                writer.close()
            except BaseException:
                writer.abort()
                raise
            _refuse_undefined(pred, reference, matrix, bad_values)
            result = _summary(pred, reference, matrix, predicted_rice, reference_rice, grid, labels)
            if result["pixels"]["evaluated"] == 0:
                raise UserError(f"no pixel of {pred} has both a prediction and a reference label in "
                                f"{reference}; check that they overlap and share a CRS")
            write_style("error", outputs.path(EVALUATE.output("error", "qml")))
            outputs.path(EVALUATE.output("metrics")).write_text(json.dumps(result, indent=2))
            outputs.commit()
    except OSError as exc:
        raise disk_full_error(out_dir, exc) or exc  # noqa: B904 (the same error, or its disk-full reading)
    finally:
        labels.close()
        dataset.close()
    return result


def _refuse_undefined(pred: str, reference: str, matrix: np.ndarray, bad_values: int) -> None:
    """Scores that would look fine but mean nothing: a map with other values than 0/1, or no rice to find."""
    if bad_values:
        raise UserError(f"{{param:pred}} {pred} has {bad_values} pixel(s) that are neither 0 (other), 1 (rice) nor "
                        "nodata; give the rice.tif written by `map` (or reclassify the map to 0/1)", param="pred")
    if matrix.sum() and matrix[1].sum() == 0:
        raise UserError(f"no evaluated pixel of {{param:reference}} {reference} is rice, so recall and F1 are "
                        "undefined; check {param:rice_values} (and {param:class_field} for polygons)",
                        param="reference")


def _compare_strips(dataset: Any, labels: Any, writer: Any,
                    reporter: Reporter) -> tuple[np.ndarray, int, int, int]:
    """Confusion matrix, rice pixel counts and the count of map values other than 0/1, writing the error
    codes strip by strip."""
    matrix = np.zeros((2, 2), np.int64)
    predicted_rice = reference_rice = bad_values = 0
    windows = _strip_windows(dataset.height, dataset.width)
    reporter.stage("evaluate", len(windows))
    for window in windows:
        predicted = dataset.read(1, window=window, masked=True)
        truth = labels.read(window)
        predicted_nodata = np.ma.getmaskarray(predicted)
        evaluated = ~predicted_nodata & (truth != UNLABELLED)
        rice_pred = np.ma.getdata(predicted) == 1
        matrix += confusion_matrix(rice_pred[evaluated], (truth == RICE)[evaluated])
        predicted_rice += int((rice_pred & ~predicted_nodata).sum())
        reference_rice += int((truth == RICE).sum())
        bad_values += int((~predicted_nodata & (np.ma.getdata(predicted) > 1)).sum())
        writer.write(error_codes(rice_pred, truth == RICE, evaluated))
        reporter.advance(1)
    return matrix, predicted_rice, reference_rice, bad_values


def _summary(pred: str, reference: str, matrix: np.ndarray, predicted_rice: int, reference_rice: int,
             grid: Any, labels: Any) -> dict:
    hectares = pixel_area_m2(grid) / 10_000
    result = binary_metrics(matrix)
    (_, fp), (fn, tp) = matrix.tolist()
    result["area_ha"] = {
        "predicted_rice": predicted_rice * hectares, "reference_rice": reference_rice * hectares,
        "predicted_rice_evaluated": (tp + fp) * hectares, "reference_rice_evaluated": (tp + fn) * hectares,
        "pixel_ha": hectares,
    }
    result["pixels"].update(predicted_rice=predicted_rice, reference_rice=reference_rice)
    result["inputs"] = {"pred": str(pred), "reference": str(reference),
                        "reference_resampled": bool(labels.resampled),
                        "class_field": getattr(labels, "field", None)}
    return result
