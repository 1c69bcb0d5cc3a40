"""Connect to a Dask cluster (``tcp://host:8786`` or ``local[:N]``) and check its workers before mapping."""

from __future__ import annotations

import importlib.util
import logging
import re
from typing import Any

from backend import __version__
from backend.contract import param_token
from backend.errors import UserError
from backend.modelstore import physical_cores

CLUSTER = param_token("cluster")

CONNECT_TIMEOUT_S = 10
WORKER_WAIT_S = 60
_LOCAL = re.compile(r"^local(?::(\d+))?$")


def parse_cluster(spec: str) -> tuple[str, int | None]:
    """``("local", N|None)`` or ``("remote", None)`` for a --cluster value; UserError if malformed."""
    spec = (spec or "").strip()
    match = _LOCAL.match(spec)
    if match:
        n = int(match.group(1)) if match.group(1) else None
        if n is not None and n < 1:
            raise UserError(f"{CLUSTER} {spec}: give at least one worker, for example local:2", param="cluster")
        return "local", n
    if re.match(r"^(tcp|tls|ws|wss|inproc|ucx)://[^/\s]+$", spec) or re.match(r"^[\w.\-]+:\d+$", spec):
        return "remote", None
    raise UserError(f"{CLUSTER} {spec!r}: give a Dask scheduler address such as tcp://host:8786, or local, "
                    "or local:N for N worker processes on this machine", param="cluster")


def connect(spec: str) -> tuple[Any, Any]:
    """A connected ``distributed.Client`` and the LocalCluster it owns (None for a remote scheduler).

    Args:
        spec: the --cluster value.

    Returns:
        ``(client, local_cluster_or_None)``; close both when done.

    Raises:
        UserError: the scheduler is unreachable within :data:`CONNECT_TIMEOUT_S` or has no workers.
    """
    from distributed import Client, LocalCluster


    kind, n = parse_cluster(spec)
    if kind == "local":
        dashboard = "127.0.0.1:0" if importlib.util.find_spec("bokeh") else None
        cluster = LocalCluster(n_workers=n or physical_cores(), threads_per_worker=1, processes=True,
                               dashboard_address=dashboard, silence_logs=logging.ERROR)
        return Client(cluster), cluster
    address = spec if "://" in spec else f"tcp://{spec}"
    try:
        client = Client(address, timeout=f"{CONNECT_TIMEOUT_S}s")
    except (OSError, TimeoutError) as exc:
        raise UserError(f"{CLUSTER} {spec}: cannot reach a Dask scheduler there within {CONNECT_TIMEOUT_S} s "
                        f"({type(exc).__name__}: {exc}); check the address and port, that `dask scheduler` "
                        "is running and that this machine can reach it", param="cluster") from None
    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT_S)
    except (OSError, TimeoutError):
        client.close()
        raise UserError(f"{CLUSTER} {spec}: the scheduler has no worker after {WORKER_WAIT_S} s; start "
                        "workers with `dask worker ADDRESS --nthreads 1` (see docs/distributed.md)",
                        param="cluster") from None
    return client, None


def _problem(address: str, result: Any, checksum: str, version: str) -> str | None:
    if isinstance(result, BaseException):
        return (f"worker {address} cannot run the S1 Rice Mapper backend ({type(result).__name__}: {result}); "
                "install the mapping environment there (docs/distributed.md)")
    if result.get("problem"):
        return f"worker {address}: {result['problem']}"
    if result.get("backend") != version:
        return (f"worker {address} runs backend {result.get('backend')}, this machine {version}; install the "
                "same version on every worker")
    if result.get("checksum") != checksum:
        return (f"worker {address} has a different model (checksum {str(result.get('checksum'))[:12]}..., "
                f"here {checksum[:12]}...); install the same model on every worker")
    return None


def check_workers(client: Any, model: str, checksum: str) -> list[str]:
    """Every worker has this backend version and the same model; returns their addresses.

    Raises:
        UserError: naming each worker that lacks the backend or holds a different model.
    """
    from backend.distributed.worker import worker_environment  # lazy: keeps --help free of distributed, rasterio

    results = client.run(worker_environment, model, on_error="return")
    problems = [p for address, result in sorted(results.items())
                if (p := _problem(address, result, checksum, __version__))]
    if problems:
        raise UserError("; ".join(problems) + ". No block was run.", param="cluster")
    return sorted(results)


def load_on_workers(client: Any, spec: Any) -> dict:
    """Register the model plugin (each worker loads the model once) and return one worker's engine info.

    Raises:
        UserError: naming a worker that could not load the model.
    """
    from backend.distributed.worker import (  # lazy: keeps --help free of distributed, rasterio
        PLUGIN_NAME,
        ModelPlugin,
        loaded_engine,
    )

    client.register_plugin(ModelPlugin(spec), name=PLUGIN_NAME)
    results = client.run(loaded_engine, on_error="return")
    failed = [f"worker {a}: {r}" for a, r in sorted(results.items()) if isinstance(r, BaseException)]
    if failed:
        raise UserError("the model did not load on " + "; ".join(failed) + ". No block was run.", param="model")
    infos = list(results.values())
    return {**infos[0], "heatmap": all(i["heatmap"] for i in infos)}


def dashboard_link(client: Any) -> str | None:
    """The Dask dashboard URL, or None when the scheduler serves none (bokeh missing there)."""
    try:
        info = client.scheduler_info()
        return client.dashboard_link if info.get("services", {}).get("dashboard") else None
    except (KeyError, AttributeError, OSError):
        return None
