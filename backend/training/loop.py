"""One training loop for pretraining and fine-tuning.

Inputs are composited dB cubes ``x (N, T, C, H, W)`` (NaN allowed) with labels ``y (N, H, W)``:
1 rice, 0 other, 255 ignored (unlabelled pixels do not enter the loss). Validation is on a separate,
spatially disjoint set chosen by the caller; the best epoch by validation F1 is kept.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from backend.evaluation.metrics import binary_metrics, confusion_matrix
from backend.training.augment import augment_batch, early_season_cutoffs

IGNORE = 255


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0
    patience: int = 4               # early stopping on validation F1
    early_season: bool = True       # chronologically ordered early-season batches
    early_season_share: float = 0.35
    augment: bool = True
    time_shift: int = 0             # augmentation: shift series by up to this many steps (0 = off)
    l2sp: float = 0.0               # decoupled pull towards the starting weights (0 = plain weight decay)
    pos_weight: float | None = None  # None: balance from the label counts
    max_minutes: float | None = None


@dataclass
class EpochLog:
    epoch: int
    loss: float
    val_loss: float
    val_f1: float
    val_iou: float
    seconds: float


@dataclass
class TrainResult:
    best_epoch: int
    best_val_f1: float
    best_val_iou: float
    history: list[EpochLog] = field(default_factory=list)
    stopped_early: bool = False


def binary_scores(prob: np.ndarray, y: np.ndarray, threshold: float = 0.5) -> tuple[float, float]:
    """F1 and rice IoU over labelled pixels (``y != IGNORE``)."""
    scores = labelled_metrics(prob, y, threshold)
    return scores["f1"] or 0.0, scores["iou_rice"] or 0.0


def labelled_metrics(prob: np.ndarray, y: np.ndarray, threshold: float = 0.5) -> dict:
    """All binary metrics (OA, F1, IoU, mIoU, kappa, ...) over labelled pixels."""
    mask = y != IGNORE
    return binary_metrics(confusion_matrix(prob[mask] >= threshold, y[mask] == 1))


def masked_bce(logits: torch.Tensor, y: torch.Tensor, pos_weight: float) -> torch.Tensor:
    """Binary cross-entropy over labelled pixels, rice weighted by ``pos_weight`` (class imbalance)."""
    mask = y != IGNORE
    if not mask.any():
        return logits.sum() * 0.0
    target = (y == 1).float()
    weight = torch.where(target > 0, torch.full_like(target, pos_weight), torch.ones_like(target))
    loss = F.binary_cross_entropy_with_logits(logits[:, 0][mask], target[mask], weight=weight[mask])
    return loss


@torch.no_grad()
def predict(net: torch.nn.Module, x: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """Rice probabilities ``(N, H, W)`` for a stack of crops."""
    net.eval()
    out = []
    for i in range(0, len(x), batch_size):
        logits = net(torch.from_numpy(x[i:i + batch_size]))
        out.append(torch.sigmoid(logits[:, 0]).numpy())
    return np.concatenate(out) if out else np.zeros((0,) + x.shape[-2:], np.float32)


def _pos_weight(y: np.ndarray, cfg: TrainConfig) -> float:
    if cfg.pos_weight is not None:
        return cfg.pos_weight
    n_pos = float(np.sum(y == 1))
    n_neg = float(np.sum(y == 0))
    return float(np.clip(n_neg / max(n_pos, 1.0), 0.2, 10.0))


def train(net: torch.nn.Module, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray,
          y_val: np.ndarray, cfg: TrainConfig, params: list[torch.nn.Parameter] | None = None,
          on_epoch: Callable[[EpochLog], None] | None = None,
          check_cancel: Callable[[], None] | None = None) -> TrainResult:
    """Train ``net`` in place, restoring the weights of the best validation epoch at the end.

    ``params`` limits what is optimised (fine-tuning the encoder or decoder only).
    """
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)
    params = [p for p in (params if params is not None else net.parameters()) if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0 if cfg.l2sp > 0 else cfg.weight_decay)
    anchor = StartingPointDecay(params, cfg.l2sp) if cfg.l2sp > 0 else None
    steps_per_epoch = max(1, math.ceil(len(x_train) / cfg.batch_size))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch,
                                                pct_start=0.2)
    pos_weight = _pos_weight(y_train, cfg)
    best_state, result = copy.deepcopy(net.state_dict()), TrainResult(-1, -1.0, 0.0)
    best_val_loss = float("inf")  # tie-break: with few validation labels F1 saturates at once
    t_start = time.monotonic()
    for epoch in range(1, cfg.epochs + 1):
        t0 = time.monotonic()
        loss = _train_one_epoch(net, x_train, y_train, cfg, rng, opt, sched, pos_weight, check_cancel, anchor)
        prob = predict(net, x_val, cfg.batch_size)
        val_loss = float(masked_bce(torch.logit(torch.from_numpy(prob).clamp(1e-6, 1 - 1e-6))[:, None],
                                    torch.from_numpy(y_val.astype(np.int64)), pos_weight))
        f1, iou = binary_scores(prob, y_val)
        log = EpochLog(epoch, loss, val_loss, f1, iou, time.monotonic() - t0)
        result.history.append(log)
        if on_epoch:
            on_epoch(log)
        if f1 > result.best_val_f1 or (f1 == result.best_val_f1 and val_loss < best_val_loss):
            best_val_loss = val_loss
            result.best_epoch, result.best_val_f1, result.best_val_iou = epoch, f1, iou
            best_state = copy.deepcopy(net.state_dict())
        elif epoch - result.best_epoch >= cfg.patience:
            result.stopped_early = True
            break
        if cfg.max_minutes and (time.monotonic() - t_start) / 60 > cfg.max_minutes:
            result.stopped_early = True
            break
    net.load_state_dict(best_state)
    return result


class StartingPointDecay:
    """L2-SP (Li, Grandvalet & Davoine 2018), decoupled like AdamW: after every optimizer step each weight
    moves back towards its starting (pretrained) value by ``lr x strength x (w - w0)``, instead of
    towards zero. Fine-tuning may adapt the weights, but what pretraining learned is forgotten
    slowly, whatever the number of steps."""

    def __init__(self, params: list[torch.nn.Parameter], strength: float) -> None:
        self.pairs = [(p, p.detach().clone()) for p in params]
        self.strength = strength

    @torch.no_grad()
    def step(self, lr: float) -> None:
        rate = min(1.0, lr * self.strength)
        for p, start in self.pairs:
            p.sub_(rate * (p - start))


def _train_one_epoch(net, x_train, y_train, cfg, rng, opt, sched, pos_weight, check_cancel,
                     anchor: StartingPointDecay | None = None) -> float:
    net.train()
    order = rng.permutation(len(x_train))
    batches = [order[i:i + cfg.batch_size] for i in range(0, len(order), cfg.batch_size)]
    cutoffs = early_season_cutoffs(len(batches), x_train.shape[1], cfg.early_season_share, rng) \
        if cfg.early_season else [None] * len(batches)
    total, count = 0.0, 0
    for idx, cutoff in zip(batches, cutoffs):
        xb, yb = x_train[idx], y_train[idx]
        if cfg.augment:
            xb, yb = augment_batch(xb, yb, rng, max_shift=cfg.time_shift)
        xb = xb.copy()
        if cutoff is not None:
            xb[:, cutoff:] = np.nan  # early-season padding: steps after the cut are "no data"
        logits = net(torch.from_numpy(np.ascontiguousarray(xb, dtype=np.float32)))
        loss = masked_bce(logits, torch.from_numpy(yb.astype(np.int64)), pos_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        if anchor is not None:
            anchor.step(opt.param_groups[0]["lr"])
        if sched.last_epoch + 1 < sched.total_steps:
            sched.step()
        total += float(loss.detach()) * len(idx)
        count += len(idx)
        if check_cancel:
            check_cancel()
    return total / max(count, 1)
