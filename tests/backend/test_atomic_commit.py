"""The commit of a run's outputs is all-or-nothing under SIGKILL, after recovery.

A child process replaces an old run's files with a new run's through :class:`backend.atomic.AtomicOutputs`
and is killed with SIGKILL at its k-th rename, for every k of the commit (the journal's rename, then each
file's). After recovery (by the watcher, or by :func:`backend.atomic.recover` when the watcher is gone too)
the final names must hold exactly the old run's bytes or exactly the new run's, checked against the
checksums each run's ``run.json`` records. The same is done to the real ``map`` verb at a few kill points.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from backend.atomic import AtomicOutputs, journal_path, recover, sweep_stale

REPO = Path(__file__).resolve().parents[2]
NAMES = ("rice.tif", "probability.tif", "rice.qml", "probability.qml", "heatmap.tif")

# The writer: claims every output, writes the run's bytes and a run.json with their checksums, commits, and
# is SIGKILLed by itself at its KILL_AT-th os.replace (fault injection at an exact point of the commit).
CHILD = """
import hashlib, json, os, signal, sys
from pathlib import Path
sys.path.insert(0, {repo!r})
from backend.atomic import AtomicOutputs
out, tag, kill_at, also_watcher = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
names = {names!r}
real, calls = os.replace, [0]
def replace(src, dst):
    if calls[0] == kill_at:
        if also_watcher and outputs._watcher and outputs._watcher._child:
            outputs._watcher._child.kill()
            outputs._watcher._child.wait()
        os.kill(os.getpid(), signal.SIGKILL)
    calls[0] += 1
    real(src, dst)
os.replace = replace
with AtomicOutputs(out, overwrite=True) as outputs:
    record = outputs.path("run.json")
    sums = {{}}
    for name in names:
        data = f"{{tag}} {{name}}".encode() * 50
        outputs.path(name).write_bytes(data)
        sums[name] = hashlib.sha256(data).hexdigest()
    record.write_text(json.dumps({{"run": tag, "sha256": sums}}))
    outputs.commit()
"""


def write_run(out: Path, tag: str, kill_at: int = -1, also_watcher: bool = False) -> int:
    code = CHILD.format(repo=str(REPO), names=NAMES)
    return subprocess.run([sys.executable, "-c", code, str(out), tag, str(kill_at), "1" if also_watcher else "0"],
                          capture_output=True, text=True, timeout=60).returncode


def which_run(out: Path) -> str:
    """'old' or 'new' when every final name holds that run's bytes (per its run.json); fails on a mixture."""
    record = json.loads((out / "run.json").read_text())
    found = {name: hashlib.sha256((out / name).read_bytes()).hexdigest() for name in NAMES}
    assert found == record["sha256"], f"run.json of the {record['run']} run beside other files"
    return record["run"]


def wait_for_recovery(out: Path, timeout: float = 15.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        hidden = sorted(p.name for p in out.iterdir() if p.name.startswith("."))
        if not hidden:
            return []
        time.sleep(0.05)
    return hidden


COMMIT_RENAMES = 1 + len(NAMES) + 1  # the journal, the files, run.json


@pytest.mark.parametrize("also_watcher", [False, True], ids=["watcher-recovers", "reader-recovers"])
def test_sigkill_at_every_rename_of_the_commit_leaves_one_whole_run(tmp_path, also_watcher) -> None:
    seen = []
    for kill_at in range(COMMIT_RENAMES + 1):  # the last one is never reached: an uninterrupted commit
        out = tmp_path / f"k{kill_at}"
        assert write_run(out, "old") == 0
        code = write_run(out, "new", kill_at, also_watcher)
        assert code == (-signal.SIGKILL if kill_at < COMMIT_RENAMES else 0)
        if also_watcher and kill_at < COMMIT_RENAMES:  # the watcher was killed too: the next run's sweep recovers
            journals = [p for p in out.iterdir() if p.name.startswith(journal_path(out, 0).name.split("-0")[0])]
            assert bool(journals) == (kill_at > 0), (kill_at, journals)
            recover(out)
            sweep_stale(out)
        assert wait_for_recovery(out) == [], f"kill at rename {kill_at}"
        run = which_run(out)
        assert run == ("old" if kill_at == 0 else "new"), (kill_at, run)  # the journal decides
        seen.append(run)
    assert set(seen) == {"old", "new"}


def test_a_commit_replaces_an_old_model_folder_output(tmp_path) -> None:
    """A temporary folder is committed over an existing folder of the same name (export-like outputs)."""
    out = tmp_path / "out"
    (out / "m").mkdir(parents=True)
    (out / "m" / "old.txt").write_text("old")
    with AtomicOutputs(out, overwrite=True) as outputs:
        folder = outputs.path("m")
        folder.mkdir()
        (folder / "new.txt").write_text("new")
        outputs.commit()
    assert sorted(p.name for p in (out / "m").iterdir()) == ["new.txt"]
    assert sorted(p.name for p in out.iterdir()) == ["m"]


# --- the real map verb ----------------------------------------------------------------------------------------
MAP_CHILD = """
import os, runpy, signal, sys
kill_at, real, calls = int(sys.argv[1]), os.replace, [0]
out = os.path.abspath(sys.argv[sys.argv.index("--out") + 1]) if "--out" in sys.argv else None
def replace(src, dst):
    if os.path.dirname(os.path.abspath(dst)) == out:  # only the renames into the output folder
        if calls[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        calls[0] += 1
    real(src, dst)
os.replace = replace
sys.argv = ["backend", *sys.argv[2:]]
runpy.run_module("backend", run_name="__main__")
"""


def _map(args: list, env: dict, kill_at: int = -1) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", MAP_CHILD, str(kill_at), *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=300, env=env)


def _bytes(folder: Path) -> dict[str, object]:
    """Each final file's bytes; for run.json the run's inputs and counts (its timings differ between runs)."""
    found: dict[str, object] = {p.name: p.read_bytes() for p in folder.iterdir() if not p.name.startswith(".")}
    run = json.loads(found.pop("run.json"))
    found["run.json"] = (run["inputs"]["files"], run["rice_pixels"], run["valid_pixels"])
    return found


def test_map_killed_during_its_commit_keeps_old_or_new_whole(tmp_path) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    scenes = []
    for seed in (3, 4):
        synth = _map(["synth", "--region", "mekong", "--size", "32", "--seed", seed, "--out", tmp_path / f"s{seed}"],
                     env)
        assert synth.returncode == 0, synth.stderr
        scenes.append(["map", "--vv", tmp_path / f"s{seed}" / "VV.tif", "--vh", tmp_path / f"s{seed}" / "VH.tif",
                       "--season", "2022-04-01", "2022-08-31", "--no-heatmap", "--threads", "1"])
    old_args, new_args = scenes
    assert _map([*old_args, "--out", tmp_path / "old"], env).returncode == 0
    assert _map([*new_args, "--out", tmp_path / "new"], env).returncode == 0
    old, new = _bytes(tmp_path / "old"), _bytes(tmp_path / "new")
    assert old.keys() == new.keys() and old["rice.tif"] != new["rice.tif"]
    kill_points = (0, 2, len(new))  # before the journal, mid-files, before run.json

    def killed_run(kill_at: int) -> tuple[int, Path]:
        out = tmp_path / f"out{kill_at}"
        shutil.copytree(tmp_path / "old", out)
        return _map([*new_args, "--out", out, "--overwrite"], env, kill_at).returncode, out

    with ThreadPoolExecutor(max_workers=2) as pool:
        for kill_at, (code, out) in zip(kill_points, pool.map(killed_run, kill_points)):
            assert code == -signal.SIGKILL, kill_at
            assert wait_for_recovery(out) == [], kill_at
            assert _bytes(out) == (old if kill_at == 0 else new), f"mixed outputs after a kill at rename {kill_at}"


@pytest.fixture
def tmpfs(tmp_path):
    """Mount small tmpfs folders (root only); unmounted afterwards."""
    mounts: list[Path] = []

    def mount(size: str) -> Path:
        folder = tmp_path / f"fs{size}"
        folder.mkdir()
        if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                                               capture_output=True).returncode != 0:
            pytest.skip("mounting a small tmpfs needs root")
        mounts.append(folder)
        return folder

    yield mount
    for folder in mounts:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_disk_filling_at_any_point_is_a_clear_error(tmp_path, tmpfs) -> None:
    """Disks of several sizes fill up in the rasters, while reading them back, or in the commit journal (the
    outside hostile run found a traceback at 12 kB and a leftover journal at 24 kB): exit 2 naming the disk,
    or a complete result; never a traceback, a partial final file or a leftover temporary."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    assert _map(["synth", "--region", "mekong", "--size", "32", "--seed", "3", "--out", tmp_path / "s"], env).returncode == 0
    folders = [tmpfs(size) for size in ("8k", "12k", "16k", "24k")]
    args = ["map", "--vv", tmp_path / "s" / "VV.tif", "--vh", tmp_path / "s" / "VH.tif", "--season", "2022-04-01",
            "2022-08-31", "--no-heatmap", "--threads", "1"]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda f: _map([*args, "--out", f / "out"], env), folders))
    for folder, result in zip(folders, results):
        assert "Traceback" not in result.stderr, (folder.name, result.stderr[-2000:])
        for place in (folder, folder / "out"):
            assert not place.exists() or wait_for_recovery(place) == [], place
        if result.returncode == 0:
            assert sorted(_bytes(folder / "out")) == ["probability.qml", "probability.tif", "rice.qml", "rice.tif",
                                                      "run.json"]
        else:
            assert result.returncode == 2 and "disk is full" in result.stderr, (folder.name, result.stderr[-500:])
            assert not (folder / "out").exists() or not _bytes(folder / "out"), folder.name
    assert any(r.returncode == 2 for r in results)


def test_an_overwrite_run_removes_the_earlier_runs_files_it_does_not_write(tmp_path) -> None:
    """A ``--no-heatmap --overwrite`` rerun must not leave the earlier run's heat map beside its results."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    assert _map(["synth", "--region", "mekong", "--size", "32", "--seed", 5, "--out", tmp_path / "s"],
                env).returncode == 0
    args = ["map", "--vv", tmp_path / "s" / "VV.tif", "--vh", tmp_path / "s" / "VH.tif", "--threads", "1",
            "--out", tmp_path / "out"]
    first = _map(args, env)
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "out" / "heatmap.tif").is_file() and (tmp_path / "out" / "heatmap.qml").is_file()
    rerun = _map([*args, "--no-heatmap", "--overwrite"], env)
    assert rerun.returncode == 0, rerun.stderr
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["probability.qml", "probability.tif", "rice.qml", "rice.tif", "run.json"], names
    assert json.loads((tmp_path / "out" / "run.json").read_text())["heatmap"] is None


def test_an_earlier_runs_lone_file_is_refused_without_overwrite(tmp_path) -> None:
    """A folder holding only an old heat map is not silently completed with a new run's other files."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "heatmap.tif").write_bytes(b"old")
    with pytest.raises(Exception, match="heatmap.tif already exists"):
        with AtomicOutputs(out, overwrite=False, family=("rice.tif", "heatmap.tif", "run.json")):
            pass
    assert (out / "heatmap.tif").read_bytes() == b"old"


def test_a_killed_commit_rolls_its_removals_forward(tmp_path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "heatmap.tif").write_bytes(b"old")
    (out / ".rice.tif.partial").write_bytes(b"new")
    journal = journal_path(out, pid=2**22 + 1)  # a writer that no longer exists
    journal.write_text(json.dumps({"renames": [[".rice.tif.partial", "rice.tif"]], "removes": ["heatmap.tif"]}))
    assert [p.name for p in recover(out)] == ["rice.tif"]
    assert sorted(p.name for p in out.iterdir()) == ["rice.tif"]
