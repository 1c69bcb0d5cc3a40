"""Binary rice / other metrics from one confusion matrix, so every verb reports them the same way.

The matrix is ``[[TN, FP], [FN, TP]]``: rows are the reference (other, rice), columns the prediction.
Definitions follow Congalton & Green (2019) for OA and Cohen's kappa; IoU is the Jaccard index per class
and mIoU their mean over the two classes. A ratio with a zero denominator is reported as ``None``.
"""

from __future__ import annotations

import numpy as np


def confusion_matrix(predicted_rice: np.ndarray, reference_rice: np.ndarray) -> np.ndarray:
    """2x2 int64 matrix of boolean arrays over the pixels to evaluate (already masked)."""
    p = np.asarray(predicted_rice, bool).ravel()
    r = np.asarray(reference_rice, bool).ravel()
    tp = int(np.count_nonzero(p & r))
    fp = int(np.count_nonzero(p & ~r))
    fn = int(np.count_nonzero(~p & r))
    tn = p.size - tp - fp - fn
    return np.array([[tn, fp], [fn, tp]], dtype=np.int64)


def _ratio(num: float, den: float) -> float | None:
    return float(num) / float(den) if den else None


def binary_metrics(matrix: np.ndarray) -> dict:
    """OA, precision, recall, F1, rice IoU, other IoU, mIoU and kappa of a 2x2 confusion matrix."""
    (tn, fp), (fn, tp) = np.asarray(matrix, dtype=np.int64).tolist()
    n = tn + fp + fn + tp
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    iou_rice, iou_other = _ratio(tp, tp + fp + fn), _ratio(tn, tn + fn + fp)
    ious = [v for v in (iou_rice, iou_other) if v is not None]
    observed = _ratio(tp + tn, n)
    expected = _ratio((tp + fp) * (tp + fn) + (tn + fn) * (tn + fp), n * n)
    kappa = None
    if observed is not None and expected is not None and expected < 1:
        kappa = (observed - expected) / (1 - expected)
    return {
        "oa": observed, "precision": precision, "recall": recall, "f1": f1,
        "iou_rice": iou_rice, "iou_other": iou_other, "miou": sum(ious) / len(ious) if ious else None,
        "kappa": kappa,
        "confusion_matrix": {"rows": "reference [other, rice]", "columns": "predicted [other, rice]",
                             "values": [[tn, fp], [fn, tp]]},
        "pixels": {"evaluated": n, "tp": tp, "fp": fp, "fn": fn, "tn": tn},
    }


ERROR_CODES = {"nodata": 0, "tp": 1, "fp": 2, "fn": 3, "tn": 4}


def error_codes(predicted: np.ndarray, reference: np.ndarray, evaluated: np.ndarray) -> np.ndarray:
    """uint8 error map: TP=1, FP=2, FN=3, TN=4, 0 where ``evaluated`` is False."""
    p, r = predicted.astype(bool), reference.astype(bool)
    codes = np.where(p, np.where(r, 1, 2), np.where(r, 3, 4)).astype(np.uint8)
    codes[~evaluated] = ERROR_CODES["nodata"]
    return codes
