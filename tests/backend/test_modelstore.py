"""Model folders: save/load round trip, the models verb, and every bad input (checksums, truncation,
card/weights mismatch, foreign ONNX, missing polarization, bundled models)."""

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from backend.errors import UserError
from backend.modelstore import (
    BUNDLED_DIR,
    check_inputs,
    list_models,
    load_card,
    load_torch,
    open_onnx,
    resolve,
    save_model,
    update_card,
    write_model_folder,
)
from backend.modelstore.card import DEFAULT_THRESHOLD, card_threshold, new_card, sha256_file
from backend.nets import build_model

REPO = Path(__file__).resolve().parents[2]
torch.set_num_threads(1)


@pytest.fixture
def user_dir(tmp_path, monkeypatch):
    folder = tmp_path / "user_models"
    monkeypatch.setenv("S1RM_MODEL_DIR", str(folder))
    return folder


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """One saved model per module (saving exports ONNX and checks parity); tests work on copies."""
    net = build_model("simta", fusion="feature", fusion_method="aff", steps=3, width=4, depth=2)
    net.set_normalization({"VV": {"mean": -11.0, "std": 3.5}, "VH": {"mean": -18.0, "std": 3.0}})
    folder = tmp_path_factory.mktemp("template") / "tiny_aff"
    card = save_model(net, {"name": "tiny_aff", "training": {"seed": 1}, "inputs": {"season_days": 150}}, folder)
    return net.eval(), card, folder


@pytest.fixture
def saved(template, user_dir):
    net, card, folder = template
    shutil.copytree(folder, user_dir / folder.name)
    return net, json.loads(json.dumps(card)), user_dir / folder.name


def run_cli(*args: str, env_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "S1RM_MODEL_DIR": str(env_dir)}
    return subprocess.run([sys.executable, "-m", "backend", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)


def test_round_trip_torch_and_onnx(saved):
    net, card, folder = saved
    assert sorted(p.name for p in folder.iterdir()) == ["card.json", "model.onnx", "weights.safetensors"]
    assert card["arch"] == "simta" and card["fusion"] == {"scheme": "feature", "method": "aff"}
    assert card["inputs"]["normalization"]["VH"] == {"mean": -18.0, "std": 3.0}
    assert card["inputs"]["season_days"] == 150 and card["inputs"]["size_multiple"] == 4
    assert card["size_bytes"] == sum(f["bytes"] for f in card["files"].values())
    loaded, loaded_card = load_torch("tiny_aff")  # by name, from the user model folder
    x = torch.randn(1, 3, 2, 24, 24) * 3 - 15
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net(x))
    session, onnx_card = open_onnx(folder, threads=1)
    assert onnx_card == loaded_card
    prob = session.run(["probability"], {"x": x.numpy()})[0]
    np.testing.assert_allclose(prob, torch.sigmoid(net(x)).detach().numpy(), atol=1e-4)
    model = onnx.load(str(folder / "model.onnx"))
    assert model.producer_name == "s1ricemapper"
    assert json.loads({p.key: p.value for p in model.metadata_props}["s1ricemapper_card"])["name"] == "tiny_aff"


def test_optimized_cache_is_reused(saved, tmp_path):
    _, _, folder = saved
    cache = tmp_path / "cache" / "tiny.ort.onnx"
    open_onnx(folder, threads=1, optimized_cache=cache)
    assert cache.is_file()
    session, _ = open_onnx(folder, threads=1, optimized_cache=cache)
    assert session.get_inputs()[0].name == "x"


def test_unreadable_optimized_cache_is_dropped_not_fatal(saved, tmp_path):
    """A cache ORT cannot read (or could not finish writing on a full disk) must not stop a run."""
    _, _, folder = saved
    cache = tmp_path / "cache" / "tiny.ort.onnx"
    open_onnx(folder, threads=1, optimized_cache=cache)
    cache.write_bytes(b"not a protobuf")  # its checksum stamp still says it is current
    session, _ = open_onnx(folder, threads=1, optimized_cache=cache)
    assert session.get_inputs()[0].name == "x"
    assert not cache.exists() and not cache.with_name(cache.name + ".sha256").exists()


def test_models_verb_lists_and_shows(saved):
    _, _, folder = saved
    listed = run_cli("models", "--verify", env_dir=folder.parent)
    assert listed.returncode == 0, listed.stderr
    names = {m["name"]: m for m in json.loads(listed.stdout)["models"]}
    assert names["tiny_aff"]["verified"] is True and names["tiny_aff"]["arch"] == "simta"
    shown = run_cli("models", "tiny_aff", "--verify", env_dir=folder.parent)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["card"]["files"]["model.onnx"]["sha256"] == sha256_file(folder / "model.onnx")


def test_tampered_weights_are_refused(saved):
    _, _, folder = saved
    data = bytearray((folder / "weights.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (folder / "weights.safetensors").write_bytes(bytes(data))
    with pytest.raises(UserError, match="weights.safetensors.*SHA-256"):
        load_torch(folder)
    shown = run_cli("models", str(folder), "--verify", env_dir=folder.parent)
    assert shown.returncode == 2 and "weights.safetensors" in shown.stderr


def test_truncated_onnx_is_refused(saved):
    _, _, folder = saved
    path = folder / "model.onnx"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(UserError, match="model.onnx has 1000 bytes.*truncated"):
        open_onnx(folder)


def test_card_not_matching_weights_is_refused(saved):
    _, card, folder = saved
    card["arch_kwargs"]["width"] = 8
    (folder / "card.json").write_text(json.dumps(card))
    with pytest.raises(UserError, match="do not match the architecture"):
        load_torch(folder)
    with pytest.raises(UserError, match="does not match"):
        open_onnx(folder)


def _rewrite_onnx(folder: Path, edit) -> None:
    model = onnx.load(str(folder / "model.onnx"))
    edit(model)
    onnx.save(model, str(folder / "model.onnx"))
    card = json.loads((folder / "card.json").read_text())
    card["files"]["model.onnx"] = {"sha256": sha256_file(folder / "model.onnx"),
                                   "bytes": (folder / "model.onnx").stat().st_size}
    (folder / "card.json").write_text(json.dumps(card))


def test_unknown_onnx_producer_is_refused(saved):
    _, _, folder = saved
    _rewrite_onnx(folder, lambda m: setattr(m, "producer_name", "pytorch"))
    with pytest.raises(UserError, match="produced by 'pytorch'"):
        open_onnx(folder)


def test_onnx_without_embedded_card_is_refused(saved):
    _, _, folder = saved
    _rewrite_onnx(folder, lambda m: m.metadata_props.__delitem__(slice(None)))
    with pytest.raises(UserError, match="no embedded model card"):
        open_onnx(folder)


def test_vv_model_on_vh_only_scene_is_refused(saved):
    _, card, _ = saved
    with pytest.raises(UserError, match="needs polarization\\(s\\) VV.*only VH"):
        check_inputs(card, ["VH"])
    check_inputs(card, ["vh", "vv"])


def test_existing_and_bundled_folders_are_not_overwritten(saved):
    net, _, folder = saved
    with pytest.raises(UserError, match="already exists"):
        save_model(net, {"name": "tiny_aff"}, folder)
    save_model(net, {"name": "tiny_aff", "version": "1.0.1"}, folder, overwrite=True)
    assert load_card(folder)["version"] == "1.0.1"
    bundled = BUNDLED_DIR / f".pytest-bundled-{uuid.uuid4().hex[:8]}"
    try:
        shutil.copytree(folder, bundled)
        with pytest.raises(UserError, match="bundled model and is never overwritten"):
            save_model(net, {"name": "x"}, bundled, overwrite=True)
        assert load_card(bundled)["version"] == "1.0.1"
    finally:
        shutil.rmtree(bundled, ignore_errors=True)


def test_failed_save_leaves_nothing(user_dir):
    def broken(path: Path) -> None:
        path.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_model_folder(user_dir / "broken", {"name": "broken"}, {"weights.safetensors": broken})
    assert not (user_dir / "broken").exists()
    assert list(user_dir.iterdir()) == []


def test_metrics_update_keeps_model_openable(saved):
    _, _, folder = saved
    update_card(folder, {"metrics": {"real": {"f1": 0.5}}})
    assert load_card(folder)["metrics"]["real"]["f1"] == 0.5
    open_onnx(folder, threads=1)
    with pytest.raises(UserError, match="cannot be updated"):
        update_card(folder, {"arch": "unet"})


def test_unknown_name_lists_available_models(saved):
    with pytest.raises(UserError, match="not found.*tiny_aff"):
        resolve("no_such_model")
    assert any(m["name"] == "tiny_aff" for m in list_models())


def test_export_verb_copies_a_model_under_a_new_name(saved, tmp_path):
    net, card, folder = saved
    out = folder.parent / "tiny_copy"
    done = run_cli("export", "tiny_aff", "--out", str(out), "--progress", "json", env_dir=folder.parent)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["event"] == "result" and result["card"]["name"] == "tiny_copy"
    copy_net, copy_card = load_torch("tiny_copy")
    assert copy_card["training"] == card["training"] and copy_card["arch_kwargs"] == card["arch_kwargs"]
    x = torch.randn(1, 3, 2, 16, 16) * 3 - 15
    with torch.no_grad():
        torch.testing.assert_close(copy_net(x), net(x))
    again = run_cli("export", "tiny_aff", "--out", str(out), env_dir=folder.parent)
    assert again.returncode == 2 and "already exists" in again.stderr


def test_card_threshold_reads_the_card_and_defaults_when_absent():
    assert card_threshold({"threshold": 0.37}) == pytest.approx(0.37)
    assert card_threshold({"threshold": None}) == DEFAULT_THRESHOLD
    assert card_threshold({}) == DEFAULT_THRESHOLD == new_card()["threshold"]
