"""`python -m backend finetune` end to end: polygons and points become model folders that `map` can use."""

from __future__ import annotations

import json
import os

import pytest
from test_finetune_fixtures import (
    SEASON,
    finetune_args,
    points_from_truth,
    run_backend,
    save_tiny_models,
    scene_inputs,
    synth_scene,
)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("finetune-cli")
    return {"scene": synth_scene(root / "scene"), "models": save_tiny_models(root / "base"), "root": root}


def _events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_polygons_give_a_model_folder_that_map_uses(world):
    scene, out = world["scene"], world["root"] / "user-models"
    inputs = scene_inputs(scene, scene / "labels.gpkg")
    proc = run_backend(*finetune_args(inputs, world["models"]["tiny-simta"], out, "local-a", "--early-season",
                                      "--progress", "json"))
    assert proc.returncode == 0, proc.stderr
    events = _events(proc.stdout)
    epochs = [e for e in events if e["event"] == "epoch"]
    assert [e["epoch"] for e in epochs] == list(range(1, len(epochs) + 1)) and epochs
    assert {"loss", "val_loss", "val_f1", "val_iou"} <= set(epochs[0])
    batches = [e for e in events if e["event"] == "batch"]  # progress within an epoch, for the panel
    last_of_epoch = {e["epoch"]: e for e in batches if e["batch"] > 0}
    assert sorted(last_of_epoch) == [e["epoch"] for e in epochs]  # every epoch reports its batches
    assert all(e["batch"] == e["batches"] > 0 for e in last_of_epoch.values())
    assert all(0 <= e["batch"] <= e["batches"] for e in batches)
    assert [e["epoch"] for e in batches if e["batch"] == 0][:len(epochs)] == [e["epoch"] for e in epochs]
    order = [(e["epoch"], e["batch"]) for e in batches]
    assert order == sorted(order)
    result = events[-1]
    assert result["event"] == "result" and result["mode"] == "FTE"
    card = json.loads((out / "local-a" / "card.json").read_text())
    assert card["base_model"] == "tiny-simta" and card["training"]["mode"] == "FTE"
    assert card["training"]["early_season"] is True
    assert card["training"]["labels"][0]["rice_features"] > 0 and card["training"]["labels"][0]["other_features"] > 0
    assert 0.0 <= card["metrics"]["validation"]["f1"] <= 1.0 and card["created"]
    assert {"weights.safetensors", "model.onnx"} <= set(card["files"])
    mapped = run_backend("map", "--vv", str(scene / "VV.tif"), "--vh", str(scene / "VH.tif"), "--season", *SEASON,
                         "--model", str(out / "local-a"), "--tile", "32", "--overlap", "8", "--threads", "1",
                         "--no-heatmap", "--out", str(world["root"] / "map-a"))
    assert mapped.returncode == 0, mapped.stderr
    assert (world["root"] / "map-a" / "rice.tif").is_file()
    assert json.loads((world["root"] / "map-a" / "run.json").read_text())["model"]["name"] == "local-a"


def test_points_and_vv_adaptation_give_a_loadable_model_found_by_name(world, monkeypatch):
    from backend.modelstore import load_torch

    scene, user_dir = world["scene"], world["root"] / "user-dir"
    points = points_from_truth(scene, world["root"] / "points.gpkg")
    env = {**os.environ, "S1RM_MODEL_DIR": str(user_dir)}
    proc = run_backend(*finetune_args(scene_inputs(scene, points), world["models"]["tiny-rnn-vh"], None,
                                      "local-pts", "--mode", "FT", "--block", "8", "--add-vv"), env=env)
    assert proc.returncode == 0, proc.stderr
    card = json.loads((user_dir / "local-pts" / "card.json").read_text())
    assert card["training"]["labels"][0]["kinds"] == ["point"]
    assert card["training"]["mode"] == "FT" and card["training"]["add_vv"] is True
    monkeypatch.setenv("S1RM_MODEL_DIR", str(user_dir))
    net, loaded = load_torch("local-pts")  # by name, from the user model folder
    assert loaded["inputs"]["polarizations"] == ["VH", "VV"] and net.input_conv.in_channels == 2
    assert loaded["base_model"] == "tiny-rnn-vh" and net.steps == 4


def test_cli_error_is_json_and_leaves_no_model(world):
    scene, out = world["scene"], world["root"] / "err-models"
    proc = run_backend(*finetune_args(scene_inputs(scene, scene / "labels.gpkg"), world["models"]["tiny-simta"],
                                      out, "bad", "--rice-values", "no-such-class", "--progress", "json"))
    assert proc.returncode == 2
    error = _events(proc.stdout)[-1]
    assert error["event"] == "error" and "every label on the rasters is non-rice" in error["message"]
    assert not (out / "bad").exists()


def test_manifest_pools_labels_of_several_scenes(world):
    scene, root = world["scene"], world["root"]
    points_from_truth(scene, root / "pts-m.gpkg", seed=3)
    (root / "scenes.csv").write_text(
        "vv,vh,labels,season_start,season_end\n"
        f"scene/VV.tif,scene/VH.tif,scene/labels.gpkg,{SEASON[0]},{SEASON[1]}\n"
        f"scene/VV.tif,scene/VH.tif,pts-m.gpkg,2022-04-20,2022-08-20\n")
    proc = run_backend(*finetune_args(["--manifest", str(root / "scenes.csv")], world["models"]["tiny-simta"],
                                      root / "m-models", "multi"))
    assert proc.returncode == 0, proc.stderr
    card = json.loads((root / "m-models" / "multi" / "card.json").read_text())
    assert [entry["kinds"] for entry in card["training"]["labels"]] == [["polygon"], ["point"]]
    assert card["training"]["seasons"] == [list(SEASON), ["2022-04-20", "2022-08-20"]]
