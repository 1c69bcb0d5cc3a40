"""Create, upgrade, check and repair the backend's own Python environment. Standard library only.

The same code serves the Settings dialog (run as a subprocess, so QGIS never freezes) and headless use::

    python3 <plugin folder>/plugin/backend_setup.py [--target DIR] [--extras training|gpu]
            [--wheelhouse DIR] [--installer auto|uv|pip] [--progress json|text] [--check] [--dry-run]

It works with QGIS's own interpreter on Windows, macOS and Linux: no bash, no make. The environment lives in a
per-user data folder outside the plugin folder (a plugin upgrade deletes the plugin folder), is built in a
staging folder next to the target and renamed into place only after its imports work, and carries a stamp
(plugin version + hash of the requirement files) so an upgraded plugin sees an outdated environment.
Exit codes: 0 done, 2 a problem the user can fix, 3 another set-up is running, 130 cancelled. The module itself
runs on Python 3.9 and newer (QGIS 3.22 on Windows ships 3.9), so it can say that the backend needs 3.11.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

PLUGIN_ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS_DIR = PLUGIN_ROOT / "requirements"
MIN_PYTHON = (3, 11)
STAMP_FILE = "s1ricemapper-env.json"
DATA_DIR_ENV = "S1RM_DATA_DIR"
EXTRAS = ("training", "gpu", "catalogue", "openvino")
TORCH_EXTRAS = frozenset({"training", "gpu"})
BASE_REQUIREMENTS = ["mapping.txt"]
EXTRA_REQUIREMENTS = {"training": ["training.txt"], "gpu": ["training.txt"], "catalogue": ["catalogue.txt"],
                      "openvino": ["openvino.txt"]}
CHECK_IMPORTS = ["numpy", "onnxruntime", "rasterio", "pyogrio", "shapely"]
EXTRA_IMPORTS = {"training": ["torch", "onnx", "sklearn", "safetensors"], "gpu": ["torch", "onnx", "sklearn"],
                 "catalogue": ["pystac_client", "odc.stac", "xarray", "planetary_computer"], "openvino": ["openvino"]}
#: Installed size relative to the download (wheels are zip files, about 3x smaller than what they unpack to).
UNPACK_FACTOR = 3.0
RESERVE_MB = 200
#: Download sizes measured on Linux x86-64 (docs/install.md), for the disk check before anything is resolved.
ESTIMATED_DOWNLOAD_MB = {"mapping": 113, "training": 260, "gpu": 3000, "catalogue": 35, "openvino": 60}
#: CUDA 12 wheels of torch need an NVIDIA driver of at least this version.
MIN_CUDA_DRIVER = 525
TORCH_INDEX = {"cpu": "https://download.pytorch.org/whl/cpu", "cuda": "https://download.pytorch.org/whl/cu126"}
OFFLINE_HINTS = re.compile(r"NewConnectionError|Name or service not known|Failed to establish a new connection|"
                           r"Temporary failure in name resolution|getaddrinfo failed|Network is unreachable|"
                           r"Failed to fetch|dns error|Connection refused", re.IGNORECASE)
EXIT_OK, EXIT_USER, EXIT_BUSY, EXIT_CANCELLED = 0, 2, 3, 130
MB = 1e6
#: Fail within a minute when the index cannot be reached, instead of pip's default retries.
PIP_NET = ["--retries", "2", "--timeout", "20"]


class SetupError(Exception):
    """A problem the user can fix; the message says what to do."""

    exit_code = EXIT_USER


class Busy(SetupError):
    """Another set-up holds the lock."""

    exit_code = EXIT_BUSY


class Cancelled(Exception):
    """The user cancelled (cancel file, SIGTERM or Ctrl+C)."""


# --- where things live -------------------------------------------------------------------------------------------
def user_data_dir() -> Path:
    """Per-user data folder of S1 Rice Mapper, outside the plugin folder (``$S1RM_DATA_DIR`` overrides it).

    Returns:
        ``%LOCALAPPDATA%\\s1ricemapper`` on Windows, ``~/Library/Application Support/s1ricemapper`` on macOS,
        ``$XDG_DATA_HOME/s1ricemapper`` (default ``~/.local/share/s1ricemapper``) elsewhere.
    """
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV]).expanduser()
    if sys.platform.startswith("win"):
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "s1ricemapper"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "s1ricemapper"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "s1ricemapper"


def default_env_dir() -> Path:
    """Where the backend environment goes unless the user picks another folder."""
    return user_data_dir() / "backend-env"


def env_python(env: Path) -> Path:
    """The interpreter inside a virtual environment."""
    if sys.platform.startswith("win"):
        return Path(env) / "Scripts" / "python.exe"
    return Path(env) / "bin" / "python"


def find_base_python() -> Path:
    """A Python that can create the environment; inside QGIS ``sys.executable`` may be QGIS itself.

    Returns:
        ``sys.executable`` when it is a Python, else the python next to QGIS's own Python installation.

    Raises:
        SetupError: when no Python interpreter can be found.
    """
    current = Path(sys.executable)
    if current.name.lower().startswith("python"):
        return current
    names = ["python.exe", "python3.exe"] if sys.platform.startswith("win") else ["python3", "python"]
    for folder in (Path(sys.exec_prefix), Path(sys.exec_prefix) / "bin", Path(sys.base_prefix) / "bin",
                   Path(sys.base_prefix)):
        for name in names:
            if (folder / name).is_file():
                return folder / name
    found = shutil.which("python3") or shutil.which("python")
    if found:
        return Path(found)
    raise SetupError(f"no Python interpreter found next to {sys.executable}; pass --python PATH")


def requirement_files(extras: Iterable[str], req_dir: Path = REQUIREMENTS_DIR) -> list[Path]:
    """The requirement files of the lean set plus the given extras, in install order, without repeats."""
    names: list[str] = list(BASE_REQUIREMENTS)
    for extra in extras:
        names += [n for n in EXTRA_REQUIREMENTS[extra] if n not in names]
    return [req_dir / n for n in names]


def requirements_hash(files: Iterable[Path]) -> str:
    """SHA-256 over the requirement files' names and contents: changes whenever a pin changes."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def plugin_version(plugin_root: Path = PLUGIN_ROOT) -> str:
    """``version=`` from metadata.txt, or ``unknown``."""
    try:
        for line in (plugin_root / "metadata.txt").read_text(encoding="utf-8").splitlines():
            if line.startswith("version="):
                return line.split("=", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def staging_dir(target: Path) -> Path:
    return target.with_name(target.name + ".building")


def lock_path(target: Path) -> Path:
    return target.with_name(target.name + ".lock")


# --- state of an environment -------------------------------------------------------------------------------------
def read_stamp(env: Path) -> dict | None:
    """The stamp written when the environment was completed, or None (missing or unreadable)."""
    try:
        stamp = json.loads((Path(env) / STAMP_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) else None


def env_state(env: Path, req_dir: Path = REQUIREMENTS_DIR, plugin_root: Path = PLUGIN_ROOT) -> dict:
    """What the environment folder holds, from the file system alone (fast enough for QGIS's main thread).

    Args:
        env: the environment folder.
        req_dir: the plugin's requirement files, to compare with the stamp.
        plugin_root: the plugin folder, for its version.

    Returns:
        ``{"state", "message", "python", "extras", "env"}`` where state is ``ready``, ``outdated``, ``missing``,
        ``running`` (a set-up holds the lock), ``incomplete`` (no stamp: interrupted or built by hand) or
        ``broken`` (stamped but its interpreter is gone).
    """
    env = Path(env)
    python = env_python(env)
    stamp = read_stamp(env)
    extras = list(stamp.get("extras", [])) if stamp else []
    state, message = "ready", f"The backend environment {env} is ready."
    if _lock_holder(lock_path(env)) is not None:
        state, message = "running", f"A set-up of {env} is running."
    elif not env.exists():
        state, message = "missing", f"There is no backend environment yet ({env})."
    elif stamp is None:
        state, message = "incomplete", (f"The backend environment {env} is incomplete (an interrupted set-up, or "
                                         "it was changed by hand); repair it.")
    elif not python.is_file():
        state, message = "broken", f"The backend environment {env} is damaged: {python} is missing; repair it."
    else:
        wanted = requirements_hash(requirement_files([e for e in extras if e in EXTRAS], req_dir))
        version = plugin_version(plugin_root)
        if stamp.get("requirements_hash") != wanted or stamp.get("plugin_version") != version:
            state, message = "outdated", (f"The backend environment {env} was made for plugin version "
                                          f"{stamp.get('plugin_version', '?')} with other requirements; update it "
                                          f"for version {version}.")
    return {"state": state, "message": message, "python": str(python), "extras": extras, "env": str(env)}


# --- GPU detection and the torch build ---------------------------------------------------------------------------
def detect_gpu() -> dict:
    """NVIDIA GPUs and driver, from ``nvidia-smi`` (or ``/proc/driver/nvidia/version`` on Linux).

    Returns:
        ``{"nvidia_smi", "gpus", "driver", "source"}``; ``gpus`` is empty when none is visible.
    """
    smi = shutil.which("nvidia-smi")
    info: dict = {"nvidia_smi": smi, "gpus": [], "driver": None, "source": None}
    if smi:
        try:
            out = subprocess.run([smi, "--query-gpu=name,driver_version", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=20, check=False).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        for line in out.splitlines():
            name, _, driver = line.rpartition(",")
            if name.strip():
                info["gpus"].append(name.strip())
                info["driver"] = driver.strip()
        info["source"] = "nvidia-smi" if info["gpus"] else None
    proc = Path("/proc/driver/nvidia/version")
    if not info["driver"] and proc.is_file():
        match = re.search(r"Kernel Module\s+(?:for \S+\s+)?([0-9][0-9.]+)", proc.read_text(errors="replace"))
        if match:
            info["driver"], info["source"] = match.group(1), str(proc)
    return info


def torch_build(gpu: dict, platform: str = sys.platform) -> dict:
    """Which torch build the extra installs, and from where.

    Args:
        gpu: the answer of :func:`detect_gpu`.
        platform: ``sys.platform`` of the machine.

    Returns:
        ``{"build": "cpu"|"cuda", "reason", "index_url"}``; ``index_url`` is None when the package index's own
        torch is the right build (macOS has no CUDA; Linux's default torch wheel is the CUDA one).
    """
    try:
        major = int(str(gpu.get("driver") or "0").split(".")[0])
    except ValueError:
        major = 0
    if platform == "darwin":
        return {"build": "cpu", "reason": "macOS: no CUDA build exists", "index_url": None}
    if major >= MIN_CUDA_DRIVER:
        reason = f"NVIDIA driver {gpu['driver']} ({', '.join(gpu.get('gpus') or ['GPU'])}) supports CUDA 12"
        return {"build": "cuda", "reason": reason,
                "index_url": TORCH_INDEX["cuda"] if platform.startswith("win") else None}
    reason = (f"NVIDIA driver {gpu['driver']} is older than {MIN_CUDA_DRIVER}" if major else "no NVIDIA GPU found")
    return {"build": "cpu", "reason": reason, "index_url": TORCH_INDEX["cpu"]}


# --- checks before any download ----------------------------------------------------------------------------------
def python_version(python: Path) -> tuple[int, ...]:
    """The version of an interpreter, by running it.

    Raises:
        SetupError: when it cannot be run.
    """
    try:
        out = subprocess.run([str(python), "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                             capture_output=True, text=True, timeout=60, check=True).stdout
        return tuple(int(p) for p in out.strip().split("."))
    except (OSError, subprocess.SubprocessError, ValueError) as err:
        raise SetupError(f"the Python interpreter {python} cannot be run ({err}); pass --python PATH of "
                         f"Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer") from None


def check_python(python: Path) -> str:
    """Refuse an interpreter older than the backend needs (numpy 2.4 needs Python 3.11)."""
    version = python_version(python)
    text = ".".join(map(str, version))
    if version[:2] < MIN_PYTHON:
        raise SetupError(f"Python {text} ({python}) is too old for the backend, which needs Python "
                         f"{MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer; install a newer Python and pass it with "
                         "--python PATH (headless set-up), or upgrade QGIS")
    return text


def check_writable(folder: Path) -> None:
    """The environment's parent folder must exist (it is created) and accept files.

    Raises:
        SetupError: naming the folder and what to do.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".s1rm-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise SetupError(f"cannot write to {folder} ({err.strerror or err}); choose another environment folder "
                         "(--target DIR, or 'Environment folder' in the Settings)") from None


def check_disk(folder: Path, need_bytes: float) -> dict:
    """Refuse to start when the disk holding ``folder`` has less free space than needed.

    Raises:
        SetupError: with the needed and the free size.
    """
    free = shutil.disk_usage(folder).free
    if free < need_bytes:
        raise SetupError(f"not enough disk space in {folder}: the backend environment needs about "
                         f"{need_bytes / MB:.0f} MB, {free / MB:.0f} MB are free; free some space or choose "
                         "another environment folder (--target DIR)")
    return {"need_mb": round(need_bytes / MB, 1), "free_mb": round(free / MB, 1)}


# --- lock against a second set-up --------------------------------------------------------------------------------
def _pid_alive(pid: int) -> bool:
    if sys.platform.startswith("win"):
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        ctypes.windll.kernel32.CloseHandle(handle)
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _lock_holder(path: Path) -> dict | None:
    """Who holds the lock, or None when there is no lock or its process is gone (a stale lock)."""
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
        return holder if _pid_alive(int(holder["pid"])) else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


class Lock:
    """An exclusive lock file next to the environment; a lock left by a dead process is taken over."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.held = False

    def __enter__(self) -> Lock:
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                holder = _lock_holder(self.path)
                if holder is not None:
                    raise Busy(f"another set-up of this environment is running (process {holder['pid']}, since "
                               f"{holder.get('since', '?')}); wait for it to finish or cancel it") from None
                self.path.unlink(missing_ok=True)  # stale: its process is gone
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump({"pid": os.getpid(), "since": _now()}, handle)
            self.held = True
            return self
        raise Busy(f"could not take the set-up lock {self.path}; try again")

    def __exit__(self, *exc) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")  # noqa: UP017 (runs on Python 3.9 too)


# --- progress ----------------------------------------------------------------------------------------------------
class Progress:
    """Steps with a percentage and the size still to download, as JSON lines or text; watches for cancel."""

    STEPS = ["check", "environment", "plan", "installer", "install", "verify", "finish"]
    WEIGHTS = {"check": 2, "environment": 8, "plan": 10, "installer": 5, "install": 65, "verify": 5, "finish": 5}

    def __init__(self, mode: str = "text", cancel_file: Path | None = None,
                 stream: Callable[[str], None] | None = None) -> None:
        self.mode = mode
        self.cancel_file = cancel_file
        self.stream = stream or (lambda line: print(line, flush=True))
        self.step = "check"
        self.fraction = 0.0
        self.remaining_mb: float | None = None
        self.signalled = False

    def percent(self) -> float:
        done = sum(self.WEIGHTS[s] for s in self.STEPS[:self.STEPS.index(self.step)])
        return round(100.0 * (done + self.WEIGHTS[self.step] * min(self.fraction, 1.0)) / sum(self.WEIGHTS.values()),
                     1)

    def emit(self, event: str, **fields) -> None:
        if self.mode == "json":
            self.stream(json.dumps({"event": event, **fields}))
        elif event == "progress":
            left = f", {fields['remaining_mb']:.0f} MB left to download" if fields.get("remaining_mb") else ""
            self.stream(f"[{fields['percent']:5.1f}%] step {fields['step']}/{fields['steps']} "
                        f"{fields['stage']}: {fields['message']}{left}")
        elif event in ("log", "error"):
            self.stream(("error: " if event == "error" else "") + fields.get("message", ""))
        else:
            self.stream(json.dumps({"event": event, **fields}, indent=1))

    def start(self, step: str, message: str) -> None:
        self.check_cancel()
        self.step, self.fraction = step, 0.0
        self.update(message)

    def update(self, message: str, fraction: float | None = None) -> None:
        if fraction is not None:
            self.fraction = fraction
        self.emit("progress", stage=self.step, step=self.STEPS.index(self.step) + 1, steps=len(self.STEPS),
                  percent=self.percent(), remaining_mb=self.remaining_mb, message=message)

    def cancelled(self) -> bool:
        return self.signalled or bool(self.cancel_file and self.cancel_file.exists())

    def check_cancel(self) -> None:
        if self.cancelled():
            raise Cancelled()


# --- running pip / uv --------------------------------------------------------------------------------------------
def _child_env() -> dict:
    """Environment of pip / uv and the new interpreter: no user site, none of QGIS's own Python settings
    (QGIS sets PYTHONHOME / PYTHONPATH to its interpreter and packages, which would leak into the new
    environment); pip's index settings also given to uv."""
    env = {**os.environ, "PYTHONNOUSERSITE": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONUNBUFFERED": "1"}
    for pip_key, uv_key in (("PIP_INDEX_URL", "UV_INDEX_URL"), ("PIP_EXTRA_INDEX_URL", "UV_EXTRA_INDEX_URL"),
                            ("PIP_FIND_LINKS", "UV_FIND_LINKS")):
        if env.get(pip_key) and not env.get(uv_key):
            env[uv_key] = env[pip_key]
    for key in ("VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH", "PYTHONSTARTUP"):
        env.pop(key, None)
    return env


def run_child(command: list[str], progress: Progress, on_line: Callable[[str], None] | None = None,
              timeout_s: float = 3600) -> list[str]:
    """Run a command, passing each output line to ``on_line``; stops it when the user cancels.

    Returns:
        The last 60 output lines.

    Raises:
        Cancelled: the user cancelled (the child is stopped first).
        SetupError: the command failed; the message holds its last lines.
    """
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               errors="replace", env=_child_env(), bufsize=1)
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True)
    reader.start()
    tail: list[str] = []
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            line = lines.get(timeout=0.2).rstrip()
            tail = (tail + [line])[-60:]
            if on_line:
                on_line(line)
        except queue.Empty:
            if process.poll() is not None and not reader.is_alive():
                break
        if progress.cancelled() or time.monotonic() > deadline:
            _stop(process)
            if progress.cancelled():
                raise Cancelled()
            raise SetupError(f"{Path(command[0]).name} took longer than {timeout_s:.0f} s; check the network")
    if process.wait() != 0:
        text = "\n".join(tail[-25:])
        if OFFLINE_HINTS.search(text):
            raise SetupError("the package index cannot be reached (no network, a proxy, or the index is down): "
                             "install from a wheelhouse folder instead (--wheelhouse DIR, or 'Wheelhouse' in the "
                             "Settings; `make wheelhouse` builds one on a machine with internet access)\n" + text)
        raise SetupError(f"{' '.join(command[:4])} … failed (exit code {process.returncode}):\n" + text)
    return tail


def _pump(stream, lines: queue.Queue) -> None:
    """Copy a child's output lines into a queue (a thread, so the caller can poll for cancel meanwhile)."""
    for line in stream:
        lines.put(line)


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _index_args(wheelhouse: Path | None, extra_index: str | None) -> list[str]:
    """Where packages come from: only the wheelhouse when given, else the index (plus torch's own index)."""
    args = ["--no-index", "--find-links", str(wheelhouse)] if wheelhouse else []
    if extra_index and not wheelhouse:
        args += ["--extra-index-url", extra_index]
    return args


def plan_downloads(python: Path, files: list[Path], index_args: list[str], progress: Progress) -> list[dict]:
    """What pip would install, with each file's size (HEAD request, or the local file's size).

    Returns:
        ``[{"name", "version", "url", "bytes"}]``; ``bytes`` is 0 when the server does not say.
    """
    report = staging_report_path(python)
    command = [str(python), "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", *PIP_NET,
               "--report", str(report), *index_args]
    for path in files:
        command += ["-r", str(path)]
    run_child(command, progress, timeout_s=1800)
    items = json.loads(report.read_text(encoding="utf-8")).get("install", [])
    report.unlink(missing_ok=True)
    planned = []
    for item in items:
        url = item.get("download_info", {}).get("url", "")
        planned.append({"name": item["metadata"]["name"], "version": item["metadata"]["version"], "url": url,
                        "bytes": _remote_size(url)})
    return planned


def staging_report_path(python: Path) -> Path:
    return python.parent.parent / "pip-report.json"


def _remote_size(url: str) -> int:
    """Size of a wheel: ``os.stat`` for file URLs, ``Content-Length`` of a HEAD request for http(s)."""
    if url.startswith("file:"):
        from urllib.parse import unquote, urlparse

        path = unquote(urlparse(url).path)
        if sys.platform.startswith("win") and re.match(r"^/[A-Za-z]:", path):
            path = path[1:]
        try:
            return os.stat(path).st_size
        except OSError:
            return 0
    if not url.startswith(("http://", "https://")):
        return 0
    try:
        request = urllib.request.Request(url, method="HEAD")
        with urllib.request.urlopen(request, timeout=20) as answer:  # nosec B310: http(s) only, checked above
            return int(answer.headers.get("Content-Length") or 0)
    except (OSError, ValueError):
        return 0


class InstallWatcher:
    """Turns pip / uv output into progress: a package's bytes count as done once its download has started."""

    PATTERN = re.compile(r"(?:Downloading|Downloaded|Collecting|Processing|Using cached|Prepared)\s+"
                         r"(?:\S*/)?([A-Za-z0-9_.\-]+)", re.IGNORECASE)

    def __init__(self, planned: list[dict], progress: Progress) -> None:
        self.progress = progress
        self.sizes = {_canon(p["name"]): p["bytes"] for p in planned}
        self.total = sum(self.sizes.values()) or 1
        self.seen: set[str] = set()

    def __call__(self, line: str) -> None:
        match = self.PATTERN.search(line)
        if not match:
            return
        name = _canon(re.split(r"-\d|==|\s|\(", match.group(1))[0])
        if name in self.sizes and name not in self.seen:
            self.seen.add(name)
            done = sum(self.sizes[n] for n in self.seen)
            self.progress.remaining_mb = round(max(self.total - done, 0) / MB, 1)
            self.progress.update(f"{name} ({len(self.seen)}/{len(self.sizes)} packages)",
                                 0.9 * len(self.seen) / max(len(self.sizes), 1))


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# --- the set-up --------------------------------------------------------------------------------------------------
class Setup:
    """One run of the set-up: build a fresh environment in a staging folder, check it, swap it into place."""

    def __init__(self, target: Path, extras: list[str], progress: Progress, wheelhouse: Path | None = None,
                 installer: str = "auto", base_python: Path | None = None, reserve_mb: float = RESERVE_MB,
                 torch_index: str = "auto",
                 req_dir: Path = REQUIREMENTS_DIR, plugin_root: Path = PLUGIN_ROOT) -> None:
        self.target = Path(target).expanduser().absolute()
        self.extras = extras
        self.progress = progress
        self.wheelhouse = Path(wheelhouse).expanduser().absolute() if wheelhouse else None
        self.installer = installer
        self.base_python = Path(base_python) if base_python else None
        self.reserve_mb = reserve_mb
        self.torch_index = torch_index
        self.req_dir = req_dir
        self.plugin_root = plugin_root
        self.staging = staging_dir(self.target)
        self.files = requirement_files(extras, req_dir)
        self.gpu: dict | None = None
        self.torch: dict | None = None

    def preflight(self) -> dict:
        """Checks that need no download: extras, wheelhouse, Python version, writable folder."""
        unknown = [e for e in self.extras if e not in EXTRAS]
        if unknown:
            raise SetupError(f"unknown extra {unknown[0]!r}; choose from {', '.join(EXTRAS)}")
        if self.wheelhouse and not self.wheelhouse.is_dir():
            raise SetupError(f"wheelhouse folder {self.wheelhouse} does not exist; build it with "
                             "`make wheelhouse` on a machine with internet access and copy it here")
        python = self.base_python or find_base_python()
        version = check_python(python)
        check_writable(self.target.parent)
        estimate = sum(ESTIMATED_DOWNLOAD_MB[e] for e in ["mapping", *self.extras]) * MB
        check_disk(self.target.parent, estimate * (1 + UNPACK_FACTOR) + self.reserve_mb * MB)  # refined after plan
        if TORCH_EXTRAS & set(self.extras):
            self.gpu = detect_gpu()
            self.torch = torch_build(self.gpu) if "gpu" in self.extras else {
                **torch_build({}), "reason": "the training extra uses the CPU build (choose 'gpu' for CUDA)"}
            if self.torch_index != "auto":
                self.torch["index_url"] = None if self.torch_index == "none" else self.torch_index
        return {"python": str(python), "python_version": version, "target": str(self.target),
                "requirements": [p.name for p in self.files], "extras": self.extras, "gpu": self.gpu,
                "torch": self.torch, "wheelhouse": str(self.wheelhouse) if self.wheelhouse else None}

    def run(self, dry_run: bool = False) -> dict:
        """The whole set-up under the lock; on failure or cancel the staging folder is removed.

        Returns:
            The result: target, python, sizes, timings, installer used.
        """
        started = time.monotonic()
        self.progress.start("check", "checking Python, folder and disk")
        facts = self.preflight()
        with Lock(lock_path(self.target)):
            try:
                facts.update(self._build(Path(facts["python"]), dry_run))
            except BaseException:
                shutil.rmtree(self.staging, ignore_errors=True)
                raise
        facts["seconds"] = round(time.monotonic() - started, 1)
        return facts

    def _build(self, python: Path, dry_run: bool) -> dict:
        shutil.rmtree(self.staging, ignore_errors=True)  # left by a killed set-up
        self.progress.start("environment", f"creating a virtual environment with {python}")
        run_child([str(python), "-m", "venv", str(self.staging)], self.progress, timeout_s=600)
        new_python = env_python(self.staging)
        self.progress.start("plan", "resolving the requirements")
        index_args = _index_args(self.wheelhouse, (self.torch or {}).get("index_url"))
        planned = plan_downloads(new_python, self.files, index_args, self.progress)
        download = sum(p["bytes"] for p in planned)
        self.progress.remaining_mb = round(download / MB, 1)
        disk = check_disk(self.target.parent, download * (1 + UNPACK_FACTOR) + self.reserve_mb * MB)
        facts = {"packages": [f"{p['name']}=={p['version']}" for p in planned], "download_mb": round(download / MB, 1),
                 "disk": disk}
        if dry_run:
            shutil.rmtree(self.staging, ignore_errors=True)
            return {**facts, "dry_run": True}
        self.progress.start("installer", "choosing the installer")
        uv = self._uv(new_python, index_args)
        self.progress.start("install", f"installing {len(planned)} packages with {'uv' if uv else 'pip'}")
        self._install(new_python, uv, index_args, planned)
        self.progress.start("verify", "importing the installed libraries")
        self.verify(new_python)
        self.progress.start("finish", "moving the environment into place")
        env_mb = folder_size(self.staging) / MB
        self._write_stamp(uv)
        self._swap()
        self.progress.remaining_mb = 0.0
        self.progress.update("done", 1.0)
        return {**facts, "installer": "uv" if uv else "pip", "env_mb": round(env_mb, 1),
                "backend_python": str(env_python(self.target)), "state": "ready"}

    def _uv(self, python: Path, index_args: list[str]) -> Path | None:
        """uv when chosen or available: from PATH, else one wheel from the index or wheelhouse into the new env."""
        if self.installer == "pip":
            return None
        found = shutil.which("uv")
        if found:
            return Path(found)
        try:
            run_child([str(python), "-m", "pip", "install", "--quiet", *index_args, "uv"], self.progress, timeout_s=900)
        except SetupError as err:
            if self.installer == "uv":
                raise
            self.progress.emit("log", message=f"uv not available ({str(err).splitlines()[0]}); using pip")
            return None
        candidate = python.parent / ("uv.exe" if sys.platform.startswith("win") else "uv")
        return candidate if candidate.is_file() else None

    def _install(self, python: Path, uv: Path | None, index_args: list[str], planned: list[dict]) -> None:
        if uv:
            command = [str(uv), "pip", "install", "--python", str(python), *index_args]
            if any(a == "--extra-index-url" for a in index_args):
                command += ["--index-strategy", "unsafe-best-match"]  # torch+cpu from its index, the rest from PyPI
        else:
            command = [str(python), "-m", "pip", "install", "--progress-bar", "off", *PIP_NET, *index_args]
        for path in self.files:
            command += ["-r", str(path)]
        run_child(command, self.progress, InstallWatcher(planned, self.progress))
        self.progress.remaining_mb = 0.0
        if uv and uv.parent == python.parent:  # uv was only a tool for this install; 40 MB less on disk
            run_child([str(uv), "pip", "uninstall", "--python", str(python), "uv"], self.progress, timeout_s=300)

    def verify(self, python: Path) -> None:
        """Import every library the environment must provide, in the new interpreter.

        Raises:
            SetupError: naming the import that failed.
        """
        modules = list(CHECK_IMPORTS)
        for extra in self.extras:
            modules += [m for m in EXTRA_IMPORTS[extra] if m not in modules]
        code = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\n"
        try:
            run_child([str(python), "-c", code, *modules], self.progress, timeout_s=600)
        except SetupError as err:
            raise SetupError(f"the new environment cannot import its libraries: {err}") from None

    def _write_stamp(self, uv: Path | None) -> None:
        stamp = {"plugin_version": plugin_version(self.plugin_root), "requirements_hash": requirements_hash(self.files),
                 "requirements": [p.name for p in self.files], "extras": self.extras, "created": _now(),
                 "installer": "uv" if uv else "pip", "torch": self.torch,
                 "wheelhouse": str(self.wheelhouse) if self.wheelhouse else None}
        (self.staging / STAMP_FILE).write_text(json.dumps(stamp, indent=1), encoding="utf-8")

    def _swap(self) -> None:
        """Replace the target by the staging folder; the old environment survives until the new one is in."""
        old = self.target.with_name(self.target.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if self.target.exists():
            try:
                self.target.rename(old)
            except OSError as err:
                raise SetupError(f"cannot replace {self.target} ({err.strerror or err}); close every running map "
                                 "or QGIS window that uses the backend and try again") from None
        self.staging.rename(self.target)
        shutil.rmtree(old, ignore_errors=True)


def folder_size(folder: Path) -> int:
    """Bytes of the regular files under a folder (symlinks not followed)."""
    total = 0
    for current, _dirs, names in os.walk(folder):
        for name in names:
            path = Path(current, name)
            if not path.is_symlink():
                total += path.stat().st_size
    return total


def build_wheelhouse(folder: Path, extras: list[str], progress: Progress, python: Path | None = None,
                     torch_index: str | None = None) -> dict:
    """Download every wheel the environment needs (and uv) into ``folder``, for an offline set-up elsewhere.

    The wheels fit the platform and Python of the machine that builds the folder.

    Returns:
        ``{"wheelhouse", "files", "mb"}``.
    """
    folder = Path(folder).expanduser().absolute()
    check_writable(folder)
    tool_env = folder / ".pip-env"
    base = python or find_base_python()
    check_python(base)
    try:
        progress.start("environment", "creating a helper environment for pip")
        run_child([str(base), "-m", "venv", str(tool_env)], progress, timeout_s=600)
        progress.start("install", "downloading wheels")
        command = [str(env_python(tool_env)), "-m", "pip", "download", "--progress-bar", "off", *PIP_NET,
                   "--dest", str(folder), "uv"]
        if torch_index:
            command += ["--extra-index-url", torch_index]
        for path in requirement_files(extras):
            command += ["-r", str(path)]
        run_child(command, progress, timeout_s=3600)
    finally:
        shutil.rmtree(tool_env, ignore_errors=True)
    wheels = sorted(folder.glob("*.whl"))
    progress.start("finish", f"{len(wheels)} wheels in {folder}")
    return {"wheelhouse": str(folder), "files": len(wheels), "mb": round(sum(w.stat().st_size for w in wheels) / MB, 1)}


# --- command line ------------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="backend_setup", description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", type=Path, default=None,
                        help=f"environment folder (default {default_env_dir()}; ${DATA_DIR_ENV} moves the data folder)")
    parser.add_argument("--extras", action="append", default=[], choices=EXTRAS,
                        help="also install PyTorch for fine-tuning / the Grad-CAM heat map (training: CPU build) "
                             "or the build that fits this machine's GPU (gpu), or the Sentinel-1 download from STAC "
                             "catalogues (catalogue); repeat for several")
    parser.add_argument("--wheelhouse", type=Path, help="install offline from this folder of wheels "
                                                        "(`make wheelhouse` builds one)")
    parser.add_argument("--installer", choices=["auto", "uv", "pip"], default="auto",
                        help="auto: uv when it can be had (faster), else pip")
    parser.add_argument("--torch-index", default="auto", metavar="URL|none|auto",
                        help="where the torch build comes from: auto = PyTorch's CPU/CUDA index as detected, none = "
                             "the package index or wheelhouse as configured")
    parser.add_argument("--python", type=Path, help="Python used to create the environment (default: this one)")
    parser.add_argument("--progress", choices=["text", "json"], default="text")
    parser.add_argument("--cancel-file", type=Path, help="the set-up stops cleanly as soon as this file exists")
    parser.add_argument("--reserve-mb", type=float, default=RESERVE_MB,
                        help="free disk space to keep beyond what the environment needs")
    parser.add_argument("--build-wheelhouse", type=Path, metavar="DIR",
                        help="only download the wheels of the environment (and uv) into DIR, for offline set-ups")
    parser.add_argument("--check", action="store_true", help="only report the environment's state")
    parser.add_argument("--detect-gpu", action="store_true", help="only report the GPU and the torch build chosen")
    parser.add_argument("--dry-run", action="store_true", help="check and resolve, download nothing, change nothing")
    return parser


def main(argv: list[str] | None = None, stream: Callable[[str], None] | None = None) -> int:
    """Command-line entry point.

    Returns:
        The exit code (0, 2 user error, 3 busy, 130 cancelled).
    """
    args = build_parser().parse_args(argv)
    progress = Progress(args.progress, args.cancel_file, stream)
    target = args.target or default_env_dir()
    extras = list(dict.fromkeys(args.extras))
    if args.check:
        progress.emit("result", **env_state(target))
        return EXIT_OK
    if args.build_wheelhouse:
        index = None if args.torch_index in ("auto", "none") else args.torch_index
        return _report(progress, lambda: build_wheelhouse(args.build_wheelhouse, extras, progress, args.python, index))
    if args.detect_gpu:
        gpu = detect_gpu()
        progress.emit("result", gpu=gpu, torch=torch_build(gpu))
        return EXIT_OK

    def _on_signal(_signum, _frame) -> None:
        progress.signalled = True

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_signal)
    setup = Setup(target, extras, progress, args.wheelhouse, args.installer, args.python, args.reserve_mb,
                  args.torch_index)
    return _report(progress, lambda: setup.run(dry_run=args.dry_run))


def _report(progress: Progress, work: Callable[[], dict]) -> int:
    """Run ``work`` and emit its result, or the error a user can act on; returns the exit code."""
    try:
        progress.emit("result", **work())
        return EXIT_OK
    except SetupError as err:
        progress.emit("error", kind=type(err).__name__, message=str(err))
        return err.exit_code
    except (Cancelled, KeyboardInterrupt):
        progress.emit("error", kind="Cancelled", message="set-up cancelled; nothing was changed")
        return EXIT_CANCELLED


if __name__ == "__main__":
    sys.exit(main())
