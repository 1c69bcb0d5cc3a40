"""`map --cluster tcp://...` through a real `dask scheduler` and `dask worker` processes on 127.0.0.1.

One scheduler and two workers map the scene (no heat map here: test_distributed.py covers it), read by the workers over HTTP (``/vsicurl/`` from a real
range-serving server, as from object storage), while one worker is killed mid-run (its block is re-run
elsewhere, the result is still bit-identical); then a worker with a different model and one without the
backend join, and the run is refused before any block, naming both workers; last, a worker that cannot
reach the inputs (the client can) stops the run at its first block, named.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_distributed_fixtures import RangeServer, assert_same_outputs, backend_env, big_scene, map_cmd, result_of, run
from test_map_fixtures import REPO, final_names, save_tiny_model

DASK = str(Path(sys.executable).with_name("dask"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_port(port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


class Cluster:
    """Processes started by a test, stopped (by their own ids) at the end."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir, self.procs = log_dir, {}
        self.port = _free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"

    def start(self, name: str, args: list[str], env: dict, cwd: Path = REPO, port: int | None = None) -> None:
        log = (self.log_dir / f"{name}.log").open("w")
        self.procs[name] = subprocess.Popen([DASK, *args], cwd=cwd, env=env, stdout=log, stderr=log)
        _wait_port(port or self.port)

    def worker(self, name: str, env: dict, cwd: Path = REPO) -> str:
        port = _free_port()
        self.start(name, ["worker", self.address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                          "--host", "127.0.0.1", "--worker-port", str(port)], env, cwd, port)
        return f"tcp://127.0.0.1:{port}"

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)


@pytest.fixture()
def cluster(tmp_path):
    started = Cluster(tmp_path)
    yield started
    started.stop()


def _wait_workers(address: str, n: int, cwd: Path) -> None:
    """In a subprocess: a checkout folder named like a package (e.g. ``dask``) would shadow it here."""
    code = (f"from distributed import Client\nwith Client({address!r}, timeout='20s') as c:\n"
            f"    c.wait_for_workers({n}, timeout=60)")
    subprocess.run([sys.executable, "-c", code], cwd=cwd, check=True, timeout=90)


def test_tcp_cluster_reads_urls_survives_a_killed_worker_and_refuses_mismatched_workers(tmp_path, cluster, request):
    models_a, models_b = tmp_path / "models_a", tmp_path / "models_b"
    save_tiny_model(models_a)
    shutil.copytree(models_a, models_b)
    card = models_b / "tiny-unet" / "card.json"
    card.write_text(json.dumps({**json.loads(card.read_text()), "threshold": 0.4}))  # a different model
    env = backend_env(tmp_path / "cache", S1RM_MODEL_DIR=str(models_a))
    inputs = big_scene(tmp_path / "scene")
    reference = tmp_path / "single"
    assert run(map_cmd("tiny-unet", inputs, reference, "--no-heatmap"), env).returncode == 0

    cluster.start("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", str(cluster.port),
                                "--no-dashboard"], env)
    cluster.worker("w1", env)
    cluster.worker("w2", env)
    _wait_workers(cluster.address, 2, tmp_path)
    out = tmp_path / "tcp"
    server = RangeServer(tmp_path / "scene")
    request.addfinalizer(server.close)
    remote = ["--vv", f"/vsicurl/{server.url}/VV.tif", "--vh", f"/vsicurl/{server.url}/VH.tif"]
    proc = subprocess.Popen(map_cmd("tiny-unet", remote, out, "--cluster", cluster.address, "--progress", "json",
                                    "--no-heatmap"),
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = False
    events = []
    for line in proc.stdout:
        events.append(json.loads(line))
        if not killed and events[-1]["event"] == "blocks":
            cluster.procs["w2"].kill()  # mid-run: w2 holds a block or the next one
            killed = True
    assert proc.wait(timeout=180) == 0, proc.stderr.read()[-3000:]
    result = events[-1]
    assert killed and result["event"] == "result" and result["distributed"]["workers"] == 2
    assert result["distributed"]["blocks_run"] == 9
    assert_same_outputs(reference, out, names=("probability.tif", "rice.tif"))
    assert json.loads((out / "run.json").read_text())["inputs"]["files"]["VV"] == [remote[1]]

    bad_model = cluster.worker("w3", {**env, "S1RM_MODEL_DIR": str(models_b)})
    no_backend = cluster.worker("w4", {k: v for k, v in env.items() if k != "PYTHONPATH"}, cwd=tmp_path)
    _wait_workers(cluster.address, 3, tmp_path)
    refused = run(map_cmd("tiny-unet", inputs, tmp_path / "refused", "--cluster", cluster.address,
                          "--progress", "json", "--no-heatmap"), env)
    message = result_of(refused)["message"]
    assert refused.returncode == 2 and "No block was run" in message
    assert f"worker {bad_model} has a different model" in message
    assert f"worker {no_backend} cannot run the S1 Rice Mapper backend" in message
    assert final_names(tmp_path / "refused") == []

    for name in ("w1", "w3", "w4"):
        cluster.procs[name].kill()
    blind = cluster.worker("w5", {**env, "GDAL_HTTP_PROXY": "http://127.0.0.1:9"})  # reaches no URL
    unread = run(map_cmd("tiny-unet", remote, tmp_path / "unread", "--cluster", cluster.address,
                         "--progress", "json", "--no-heatmap"), env)
    message = result_of(unread)["message"]
    assert unread.returncode == 2 and f"worker {blind} cannot read the input series" in message, message
    assert "storage every worker sees" in message and final_names(tmp_path / "unread") == []
