"""Pretraining the bundled models on synthetic scenes (`make pretrain`).

Every recipe in :mod:`backend.training.recipes` is trained on the same cached synthetic crops, validated
on other scenes of the training regions (early stopping) and tested on the held-out region. Results go
into each model's card; the model folders are written atomically into ``models/``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from backend.baselines import predict_proba
from backend.baselines.phenology import save_phenology_rules
from backend.baselines.random_forest import save_random_forest, train_random_forest
from backend.modelstore import load_card, load_torch, save_model, update_card
from backend.nets import ARCHITECTURES, build_model
from backend.nets.recurrent_unet import expand_first_layer
from backend.nets.registry import build_decision
from backend.progress import Reporter
from backend.timeseries.channels import CANONICAL_POLS, select_pols
from backend.training.loop import TrainConfig, labelled_metrics, predict, train
from backend.training.recipes import DEFAULT_MODEL, HELDOUT_REGION, RECIPES, ModelRecipe, data_recipes
from backend.training.synthetic_data import build_dataset

RF_PIXELS = 60_000


def pol_stats(x: np.ndarray) -> dict[str, dict[str, float]]:
    """Per-polarization dB mean and std of the training data (the networks' input normalization)."""
    return {p: {"mean": float(np.nanmean(x[:, :, i])), "std": float(np.nanstd(x[:, :, i]))}
            for i, p in enumerate(CANONICAL_POLS)}


class Pretrainer:
    def __init__(self, out_dir: Path, reporter: Reporter, quick: bool = False, seed: int = 0) -> None:
        self.out_dir, self.reporter, self.quick, self.seed = Path(out_dir), reporter, quick, seed
        self._data: dict[int, dict[str, dict[str, np.ndarray]]] = {}

    def data(self, steps: int) -> dict[str, dict[str, np.ndarray]]:
        if steps not in self._data:
            self._data[steps] = {split: build_dataset(r, log=self.reporter.log)
                                 for split, r in data_recipes(steps, self.quick).items()}
        return self._data[steps]

    def run(self, names: list[str] | None = None) -> list[dict]:
        recipes = [r for r in RECIPES if names is None or r.name in names]
        self.reporter.stage("pretrain", len(recipes))
        summaries = []
        for r in recipes:
            t0 = time.monotonic()
            card = self.build(r)
            summaries.append({"name": r.name, "seconds": round(time.monotonic() - t0, 1),
                              "heldout": card["metrics"].get(f"synthetic_heldout_{HELDOUT_REGION}")})
            self.reporter.advance(1, r.name)
        if names is None or DEFAULT_MODEL in names:
            (self.out_dir / "default.json").write_text(json.dumps({"default": DEFAULT_MODEL}, indent=2) + "\n")
        return summaries

    def build(self, r: ModelRecipe) -> dict:
        torch.manual_seed(self.seed)
        if r.kind == "forest":
            return self._forest(r)
        if r.kind == "rules":
            return self._rules(r)
        return self._network(r)

    # --- neural networks -------------------------------------------------------------------------
    def _network(self, r: ModelRecipe) -> dict:
        data = self.data(r.steps)
        net, params, cfg = self._prepare(r, data)
        pols = list(net.polarizations)
        x_tr, x_val = select_pols(data["train"]["x"], pols), select_pols(data["val"]["x"], pols)
        result = train(net, x_tr, data["train"]["y"], x_val, data["val"]["y"], cfg, params=params,
                       on_epoch=lambda log: self.reporter.event("epoch", model=r.name, **asdict(log)),
                       check_cancel=self.reporter.check_cancel)
        metrics = self._metrics(lambda x: predict(net, select_pols(x, pols)), data)
        card = self._card(r, cfg, metrics, result_summary={
            "best_epoch": result.best_epoch, "stopped_early": result.stopped_early,
            "history": [asdict(h) for h in result.history]})
        return save_model(net, card, self.out_dir / r.name, overwrite=True, replace_bundled=True)

    def _prepare(self, r: ModelRecipe, data: dict):
        cfg = TrainConfig(epochs=1 if self.quick else r.epochs, lr=r.lr, seed=self.seed)
        if r.kind == "decision":
            vv, _ = load_torch(self.out_dir / r.bases[0])
            vh, _ = load_torch(self.out_dir / r.bases[1])
            net = build_decision(vv, vh)
            cfg.lr, cfg.early_season, cfg.augment = 0.05, False, False
            return net, [net.weight_logit], cfg
        if r.kind == "expand":
            base, _ = load_torch(self.out_dir / r.bases[0])
            net = expand_first_layer(base, 2)
            stats = pol_stats(data["train"]["x"])
            net.set_normalization({**stats, **base.normalization()})
            return net, None, cfg
        net = build_model(r.arch, steps=r.steps, **r.kwargs)
        net.set_normalization({p: s for p, s in pol_stats(data["train"]["x"]).items() if p in net.polarizations})
        return net, None, cfg

    # --- non-neural baselines --------------------------------------------------------------------
    def _forest(self, r: ModelRecipe) -> dict:
        data = self.data(r.steps)
        x, y = data["train"]["x"], data["train"]["y"]
        series = x.transpose(0, 3, 4, 1, 2).reshape(-1, x.shape[1], 2)
        labels = y.reshape(-1)
        pick = np.random.default_rng(self.seed).choice(len(labels), min(RF_PIXELS, len(labels)), replace=False)
        forest = train_random_forest(series[pick], labels[pick], n_estimators=60 if not self.quick else 10,
                                     max_depth=14, seed=self.seed, n_jobs=2)
        folder = self.out_dir / r.name
        save_random_forest(forest, self._card(r, None, {}), folder, overwrite=True, replace_bundled=True)
        metrics = self._metrics(lambda xb: predict_proba(folder, xb)[:, 0], data)
        return self._update_metrics(folder, metrics)

    def _rules(self, r: ModelRecipe) -> dict:
        data = self.data(r.steps)
        folder = self.out_dir / r.name
        save_phenology_rules(self._card(r, None, {}), folder, steps=r.steps, overwrite=True, replace_bundled=True)
        metrics = self._metrics(lambda xb: predict_proba(folder, select_pols(xb, ["VH"]))[:, 0], data)
        return self._update_metrics(folder, metrics)

    def _update_metrics(self, folder: Path, metrics: dict) -> dict:
        return update_card(folder, {"metrics": metrics})

    # --- shared ------------------------------------------------------------------------------------
    def _metrics(self, predict_fn, data: dict) -> dict:
        out = {}
        for split, label in (("val", "synthetic_val"), ("test", f"synthetic_heldout_{HELDOUT_REGION}")):
            prob = np.concatenate([predict_fn(data[split]["x"][i:i + 32]) for i in range(0, len(data[split]["x"]), 32)])
            m = labelled_metrics(prob, data[split]["y"])
            out[label] = {k: m[k] for k in ("oa", "precision", "recall", "f1", "iou_rice", "miou", "kappa")}
        return out

    def _card(self, r: ModelRecipe, cfg: TrainConfig | None, metrics: dict, result_summary: dict | None = None) -> dict:
        recipes = {k: asdict(v) for k, v in data_recipes(r.steps, self.quick).items()}
        training = {"command": "make pretrain" + (" (quick)" if self.quick else ""), "seed": self.seed,
                    "recipe": asdict(r), "data": recipes, "heldout_region": HELDOUT_REGION,
                    "config": asdict(cfg) if cfg else None, **(result_summary or {})}
        return {"name": r.name, "description": r.description, "training": training, "metrics": metrics,
                "inputs": {"season_days": 150}, "base_model": list(r.bases) or None,
                "default": r.name == DEFAULT_MODEL}


def reexport(out: Path, only: list[str] | None, reporter: Reporter) -> list[str]:
    """Re-save every PyTorch model folder in ``out`` (or those named in ``only``) from its own weights.

    The ONNX graph is written again in the current export form (what ``pretrain --reexport`` does); the
    weights and the card's other fields stay as they are.

    Args:
        out: a folder of model folders (the bundled ``models/`` or a copy of some of them).
        only: the folder names to re-save; None re-saves every PyTorch model in ``out``.
        reporter: receives one progress step per model.

    Returns:
        The names of the models re-saved.
    """
    folders = sorted(p.parent for p in out.glob("*/card.json"))
    folders = [f for f in folders if load_card(f)["arch"] in ARCHITECTURES and (not only or f.name in only)]
    reporter.stage("reexport", len(folders))
    done = []
    for folder in folders:
        net, card = load_torch(folder)
        kept = {k: v for k, v in card.items() if k not in ("files", "size_bytes")}
        save_model(net, kept, folder, overwrite=True, replace_bundled=True)
        done.append(card["name"])
        reporter.advance(1, card["name"])
    return done
