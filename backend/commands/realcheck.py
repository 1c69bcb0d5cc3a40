"""``realcheck``: zero-shot accuracy of a model on the real An Giang cubes, next to a site-grouped RF."""

from __future__ import annotations

import argparse
from pathlib import Path

from backend.modelstore import load_card, update_card
from backend.progress import Reporter


def run(args: argparse.Namespace, reporter: Reporter) -> dict:
    from backend.experiments import angiang  # lazy: keeps --help free of numpy

    cubes = angiang.load_cubes(Path(args.data) if args.data else angiang.DATA_DIR)
    reporter.log(f"{len(cubes['label'])} real cubes; season {angiang.SEASON[0]}..{angiang.SEASON[1]}")
    result = {"zero_shot": angiang.zero_shot(args.model, cubes, args.engine, log=reporter.log)}
    if args.rf:
        result["random_forest_site_cv"] = angiang.random_forest_grouped_cv(cubes)
    if args.update_card:
        card = load_card(result["zero_shot"]["model"], verify=False)
        metrics = {**card.get("metrics", {}), "real_angiang_2022_zero_shot": result["zero_shot"]["all"]}
        if "random_forest_site_cv" in result:
            metrics["real_angiang_2022_rf_site_cv_reference"] = result["random_forest_site_cv"]["pooled"]
        update_card(result["zero_shot"]["model"], {"metrics": metrics})
    return result
