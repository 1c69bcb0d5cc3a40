"""plugin/backend_setup.py, run as users run it (a subprocess of QGIS's Python): a lean environment from a
wheelhouse, its state (ready / outdated / broken / incomplete) and repair, and every bad input: a second set-up,
cancel, a Python too old, not enough disk, a read-only folder, no network, a missing wheelhouse."""

from __future__ import annotations

import importlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, REPO_BACKEND_PYTHON, plugin_package
from setup_fixtures import SETUP, last, run_setup, wheelhouse  # noqa: F401

LEAN_LIMIT_MB = 400


def setup_module_under_test():
    """plugin/backend_setup.py imported as the installed plugin's module."""
    plugin_package()
    return importlib.import_module("s1ricemapper.plugin.backend_setup")


@pytest.fixture(scope="module")
def lean_env(wheelhouse, tmp_path_factory) -> tuple[Path, dict]:
    target = tmp_path_factory.mktemp("data") / "backend-env"
    done, events = run_setup("--target", str(target), "--wheelhouse", str(wheelhouse))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    return target, {"result": last(events, "result"), "events": events}


def state(target: Path) -> dict:
    done, events = run_setup("--check", "--target", str(target))
    assert done.returncode == 0, done.stderr
    return last(events, "result")


def test_lean_environment_from_a_wheelhouse_has_no_torch(lean_env):
    target, run = lean_env
    result = run["result"]
    assert result["state"] == "ready" and Path(result["backend_python"]).is_file()
    assert result["env_mb"] <= LEAN_LIMIT_MB, f"lean environment is {result['env_mb']} MB"
    progress = [e for e in run["events"] if e["event"] == "progress"]
    assert [p["percent"] for p in progress] == sorted(p["percent"] for p in progress) and progress[-1]["percent"] == 100
    assert max(p["remaining_mb"] or 0 for p in progress) == result["download_mb"] > 50
    python = result["backend_python"]
    probe = subprocess.run([python, "-c", "import onnxruntime, rasterio, numpy, pyogrio, shapely\n"
                                          "import importlib.util as u; print(u.find_spec('torch'))"],
                           capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0 and probe.stdout.strip() == "None", probe.stderr
    assert not Path(str(target) + ".building").exists() and not Path(str(target) + ".lock").exists()
    assert state(target)["state"] == "ready"


def test_outdated_broken_and_incomplete_environments_are_noticed_then_repaired(lean_env, wheelhouse):
    """A cancelled repair keeps the environment as it was; a finished one makes it ready again."""
    target, _ = lean_env
    stamp_file = target / "s1ricemapper-env.json"
    stamp = json.loads(stamp_file.read_text())
    stamp_file.write_text(json.dumps({**stamp, "requirements_hash": "0" * 64}))
    assert state(target)["state"] == "outdated"
    stamp_file.write_text(json.dumps(stamp))
    python = target / "bin" / "python"
    link = os.readlink(python)
    python.unlink()  # deleted behind the plugin's back
    checked = state(target)
    assert checked["state"] == "broken" and "repair" in checked["message"]
    os.symlink(link, python)
    stamp_file.unlink()
    assert state(target)["state"] == "incomplete"
    cancel = target.parent / "cancel"
    process = subprocess.Popen([sys.executable, str(SETUP), "--target", str(target), "--wheelhouse", str(wheelhouse),
                                "--installer", "pip", "--progress", "json", "--cancel-file", str(cancel)],
                               stdout=subprocess.PIPE, text=True)
    events = []
    for line in process.stdout:
        events.append(json.loads(line))
        if events[-1].get("stage") == "install":
            cancel.touch()
    assert process.wait(timeout=120) == 130 and last(events, "error")["kind"] == "Cancelled"
    cancel.unlink()
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]  # no staging folder, no lock
    assert state(target)["state"] == "incomplete"  # untouched by the cancelled repair
    done, events = run_setup("--target", str(target), "--wheelhouse", str(wheelhouse))  # the repair
    assert done.returncode == 0, done.stdout[-2000:]
    assert state(target)["state"] == "ready"


def test_a_second_setup_is_refused_while_one_runs(tmp_path, wheelhouse):
    setup = setup_module_under_test()
    target = tmp_path / "env"
    with setup.Lock(setup.lock_path(target)):
        done, events = run_setup("--target", str(target), "--wheelhouse", str(wheelhouse))
        assert state(target)["state"] == "running"
    assert done.returncode == 3 and "another set-up" in last(events, "error")["message"]
    assert not target.exists()


def test_python_too_old_is_refused_before_anything(tmp_path):
    fake = tmp_path / "python3.8"
    fake.write_text("#!/bin/sh\necho 3.8.10\n")
    fake.chmod(0o755)
    done, events = run_setup("--target", str(tmp_path / "env"), "--python", str(fake))
    message = last(events, "error")["message"]
    assert done.returncode == 2 and "Python 3.8.10" in message and "3.11 or newer" in message
    assert not (tmp_path / "env").exists()


def test_not_enough_disk_is_said_with_needed_and_free_sizes(tmp_path, wheelhouse):
    done, events = run_setup("--target", str(tmp_path / "env"), "--wheelhouse", str(wheelhouse),
                             "--reserve-mb", "1e12")
    message = last(events, "error")["message"]
    assert done.returncode == 2 and "not enough disk space" in message and "MB are free" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_read_only_folder_is_refused(tmp_path):
    folder = tmp_path / "profile"
    folder.mkdir()
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here, so a read-only folder cannot be made as root")
    try:
        done, events = run_setup("--target", str(folder / "env"))
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    message = last(events, "error")["message"]
    assert done.returncode == 2 and f"cannot write to {folder}" in message and "--target" in message


def test_no_network_offers_the_wheelhouse(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL=f"http://127.0.0.1:{port}/simple")
    started = time.monotonic()
    done, events = run_setup("--target", str(tmp_path / "env"), env=env, timeout=300)
    message = last(events, "error")["message"]
    assert done.returncode == 2 and "cannot be reached" in message and "--wheelhouse" in message
    assert not (tmp_path / "env").exists() and not (tmp_path / "env.building").exists()
    assert time.monotonic() - started < 240
    done, events = run_setup("--target", str(tmp_path / "env"), "--wheelhouse", str(tmp_path / "nowhere"))
    assert done.returncode == 2 and "make wheelhouse" in last(events, "error")["message"]


def test_gpu_detection_and_torch_build_choice():
    setup = setup_module_under_test()
    done, events = run_setup("--detect-gpu")
    found = last(events, "result")
    assert done.returncode == 0 and found["torch"]["build"] == ("cuda" if found["gpu"]["gpus"] else "cpu")
    assert setup.torch_build({"driver": "550.54", "gpus": ["H200"]}, "linux")["build"] == "cuda"
    assert setup.torch_build({"driver": "550.54", "gpus": ["RTX"]}, "win32")["index_url"].endswith("cu126")
    assert setup.torch_build({"driver": "470.1", "gpus": ["K80"]}, "linux")["build"] == "cpu"
    assert setup.torch_build({}, "linux")["index_url"].endswith("/cpu")
    assert setup.torch_build({"driver": "550.54"}, "darwin")["build"] == "cpu"


def test_lean_environment_says_which_extra_fine_tuning_needs(lean_env, tmp_path):
    """Fine-tuning needs PyTorch: in the lean environment it is refused with the way to add the extra."""
    python = lean_env[1]["result"]["backend_python"]
    if not REPO_BACKEND_PYTHON.exists():
        pytest.skip("the scene is made by the developer backend environment; run scripts/setup.sh backend")
    scene = tmp_path / "scene"
    synth = subprocess.run([str(REPO_BACKEND_PYTHON), "-m", "backend", "synth", "--region", "mekong", "--size", "32", "--seed", "1",
                            "--out", str(scene), "--progress", "none"], cwd=REPO, capture_output=True, text=True,
                           timeout=300)
    assert synth.returncode == 0, synth.stderr[-2000:]
    tune = subprocess.run([python, "-m", "backend", "finetune", "--vv", str(scene / "VV.tif"), "--vh",
                           str(scene / "VH.tif"), "--season", "2022-04-01", "2022-08-31", "--labels",
                           str(scene / "labels.gpkg"), "--class-field", "class", "--rice-values", "rice", "--name",
                           "lean-try"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert tune.returncode == 2 and "Traceback" not in tune.stderr
    assert "optional PyTorch extra" in tune.stderr and "--extras training" in tune.stderr
