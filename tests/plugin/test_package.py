"""`make package`'s zip: the right files, at most 25,000,000 bytes, the checks the QGIS plugin repository runs on
an upload, a clean bandit scan, the model index of the models left out, and the headline: a fresh QGIS profile,
the zip installed, the backend set up by the plugin's own module, and `qgis_process run s1ricemapper:maprice`
giving styled outputs."""

from __future__ import annotations

import configparser
import hashlib
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
import zipfile
from functools import partial
from pathlib import Path
from urllib.parse import urlparse

import pytest
from conftest import ARTIFACTS, REPO, REPO_BACKEND_PYTHON
from setup_fixtures import LEAN_MAP_GAP, last, lean_map_gap, run_setup, wheelhouse  # noqa: F401
from test_processing_fixtures import SEASON, scene  # noqa: F401

QGIS_PROCESS = Path("/usr/bin/qgis_process.bin")  # Debian's qgis_process wrapper adds an option it rejects
REQUIRED = ["metadata.txt", "__init__.py", "plugin/__init__.py", "plugin/main.py", "plugin/processing/provider.py",
            "backend/__main__.py", "resources/icons/icon.svg", "resources/styles/rice.qml",
            "requirements/backend.txt", "requirements/mapping.txt", "requirements/training.txt",
            "plugin/backend_setup.py", "scripts/setup.sh", "Makefile", "models/README.md", "models/index.json",
            "models/default.json", "LICENSE"]
#: The plugin repository's limit (PLUGIN_MAX_UPLOAD_SIZE of the QGIS plugins website).
MAX_UPLOAD_BYTES = 25_000_000
#: What the repository requires in metadata.txt before it accepts an upload.
REPOSITORY_REQUIRED = ["name", "description", "version", "qgisMinimumVersion", "author", "email", "about", "tracker",
                       "repository"]
COMPILED = (".pyc", ".pyo", ".so", ".pyd", ".dll", ".dylib", ".exe", ".class", ".o")
FORBIDDEN_PARTS = {".venv", ".venv-qgis", "__pycache__", ".git", "tests", "demo_output", ".cache", ".qgis-settings",
                   ".pytest_cache", "test_artifacts"}
METADATA_KEYS = ["name", "qgisMinimumVersion", "description", "about", "version", "author", "email", "tracker",
                 "repository", "homepage", "icon", "changelog"]


@pytest.fixture(scope="module")
def plugin_zip() -> Path:
    result = subprocess.run(["bash", str(REPO / "scripts" / "package.sh")], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.split()[1])


@pytest.fixture(scope="module")
def installed(plugin_zip, tmp_path_factory) -> Path:
    """The zip unpacked into a plugin folder, as QGIS's 'Install from ZIP' does."""
    plugins = tmp_path_factory.mktemp("plugins")
    with zipfile.ZipFile(plugin_zip) as archive:
        archive.extractall(plugins)
    return plugins


def test_zip_has_the_plugin_and_nothing_else(plugin_zip):
    metadata = configparser.ConfigParser()
    metadata.read(REPO / "metadata.txt")
    assert plugin_zip.name == f"s1ricemapper-{metadata['general']['version']}.zip"
    names = zipfile.ZipFile(plugin_zip).namelist()
    assert all(n.startswith("s1ricemapper/") for n in names)
    relative = {n.split("/", 1)[1] for n in names}
    assert set(REQUIRED) <= relative
    if (REPO / "LICENSE").exists():
        assert "LICENSE" in relative
    assert not [n for n in relative if FORBIDDEN_PARTS & set(Path(n).parts) or n.endswith(".pyc")]


def test_metadata_meets_plugin_repository_requirements():
    general = configparser.ConfigParser()
    general.read(REPO / "metadata.txt")
    values = general["general"]
    assert {key: bool(values.get(key, "").strip()) for key in METADATA_KEYS} == dict.fromkeys(METADATA_KEYS, True)
    assert values["qgisMinimumVersion"] == "3.22"
    assert (REPO / values["icon"]).exists()
    assert values["hasProcessingProvider"] == "yes"


def test_zip_passes_the_plugin_repository_upload_checks(plugin_zip):
    """The rules the QGIS plugins website applies to an upload, re-stated here (size, paths, no compiled files,
    one top folder with __init__.py, metadata.txt and LICENSE, required metadata, valid URLs, author)."""
    size = plugin_zip.stat().st_size
    assert size <= MAX_UPLOAD_BYTES, f"{size} bytes"
    archive = zipfile.ZipFile(plugin_zip)
    assert archive.testzip() is None
    names = archive.namelist()
    assert not [n for n in names if ".." in n or n.startswith("/") or "\\" in n]
    assert not [n for n in names if n.lower().endswith(COMPILED)]
    assert not [n for n in names if {"__MACOSX", ".git", "__pycache__"} & set(n.split("/"))]
    tops = {n.split("/", 1)[0] for n in names}
    assert len(tops) == 1 and re.match(r"^[A-Za-z][A-Za-z0-9-_]+$", next(iter(tops)))
    top = tops.pop()
    assert {f"{top}/__init__.py", f"{top}/metadata.txt", f"{top}/LICENSE"} <= set(names)
    metadata = configparser.ConfigParser()
    metadata.optionxform = str  # the repository reads keys case-sensitively
    metadata.read_string(archive.read(f"{top}/metadata.txt").decode("utf-8"))
    general = metadata["general"]
    assert [k for k in REPOSITORY_REQUIRED if not general.get(k, "").strip()] == []
    for key in ("tracker", "repository", "homepage"):
        parsed = urlparse(general[key])
        assert parsed.scheme == "https" and parsed.netloc, key
    assert "example." not in general["email"] and "@" in general["email"]
    assert "/" not in general["author"]
    assert f"{top}/{general['icon']}" in names
    assert general["supportsQt6"] == "True" and general["qgisMaximumVersion"] == "4.99"


def test_zip_ships_the_default_and_small_models_and_indexes_the_rest(plugin_zip):
    """The zip holds the models named in pb_tool.cfg; every other model is in the zip's index, whose size and
    SHA-256 match the archives `make package` wrote to dist/models/ for upload."""
    config = configparser.ConfigParser()
    config.read(REPO / "pb_tool.cfg")
    bundled = set(config["files"]["bundled_models"].split())
    archive = zipfile.ZipFile(plugin_zip)
    shipped = {n.split("/")[2] for n in archive.namelist() if n.count("/") >= 3 and n.split("/")[1] == "models"}
    assert shipped == bundled
    default = json.loads(archive.read("s1ricemapper/models/default.json"))["default"]
    assert default in bundled
    index = json.loads(archive.read("s1ricemapper/models/index.json"))
    on_disk = {d.name for d in (REPO / "models").iterdir() if (d / "card.json").is_file()}
    assert {e["name"] for e in index["models"]} == on_disk - bundled
    for entry in index["models"]:
        built = REPO / "dist" / "models" / Path(urlparse(entry["url"]).path).name
        assert built.stat().st_size == entry["size"]
        assert hashlib.sha256(built.read_bytes()).hexdigest() == entry["sha256"]
        assert entry["url"].startswith("https://") and entry["licence"] and entry["card_summary"]["arch"]


def test_bandit_finds_no_high_severity_issue(installed, tmp_path):
    pytest.importorskip("bandit", reason="bandit is in requirements/qgis-test.txt; run scripts/setup.sh qgistest")
    report = tmp_path / "bandit.json"
    subprocess.run([sys.executable, "-m", "bandit", "-r", str(installed / "s1ricemapper"), "-f", "json", "-q",
                    "-o", str(report)], capture_output=True, text=True, timeout=120)
    results = json.loads(report.read_text())
    high = [f"{r['filename']}:{r['line_number']} {r['test_id']} {r['issue_text']}" for r in results["results"]
            if r["issue_severity"] == "HIGH"]
    assert high == []
    assert results["metrics"]["_totals"]["loc"] > 1000  # it really scanned the plugin and the backend


def _qgis_process(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(QGIS_PROCESS), *args], env=env, capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def profile_env(installed, tmp_path_factory) -> dict:
    """qgis_process with the installed zip on QGIS_PLUGINPATH, enabled in a fresh profile whose backend
    interpreter setting points at the repository's backend (the zip carries no environment)."""
    if not QGIS_PROCESS.exists():
        pytest.skip(f"{QGIS_PROCESS} is missing; run scripts/setup.sh system")
    profile = tmp_path_factory.mktemp("profile")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QGIS_PLUGINPATH": str(installed),
           "QGIS_CUSTOM_CONFIG_PATH": str(profile), "XDG_RUNTIME_DIR": str(profile)}
    enable = _qgis_process(env, "plugins", "enable", "s1ricemapper")
    assert enable.returncode == 0, enable.stdout + enable.stderr
    ini = profile / "profiles" / "default" / "QGIS" / "QGIS3.ini"
    assert "s1ricemapper=true" in ini.read_text()
    with ini.open("a") as settings:
        settings.write(f"\n[s1ricemapper]\nbackend_python={REPO_BACKEND_PYTHON}\n")
    return env


def test_qgis_process_lists_all_algorithms_from_the_installed_zip(profile_env):
    listing = _qgis_process(profile_env, "list")
    assert listing.returncode == 0, listing.stderr
    ours = {line.split()[0] for line in listing.stdout.splitlines() if line.strip().startswith("s1ricemapper:")}
    assert ours == {"s1ricemapper:maprice", "s1ricemapper:finetune", "s1ricemapper:evaluate",
                    "s1ricemapper:riceareastats", "s1ricemapper:seasons", "s1ricemapper:fetch"}


def test_qgis_process_runs_the_installed_plugin(profile_env, scene, tmp_path):  # noqa: F811
    """evaluate through qgis_process; a wrong class field is refused before any work, in plain words."""
    common = [f"PREDICTION={scene / 'truth.tif'}", f"REFERENCE={scene / 'labels.gpkg'}", "RICE_VALUES=rice"]
    run = _qgis_process(profile_env, "--json", "run", "s1ricemapper:evaluate", "--", *common, "CLASS_FIELD=class",
                        f"OUTPUT_FOLDER={tmp_path / 'ok'}", f"METRICS={tmp_path / 'metrics.gpkg'}")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    results = json.loads(run.stdout)["results"]
    assert results["F1"] == json.loads((tmp_path / "ok" / "metrics.json").read_text())["f1"]
    wrong = _qgis_process(profile_env, "run", "s1ricemapper:evaluate", "--", *common, "CLASS_FIELD=crop",
                          f"OUTPUT_FOLDER={tmp_path / 'bad'}")
    assert wrong.returncode != 0
    assert "no field 'crop'" in wrong.stdout + wrong.stderr and "Traceback" not in wrong.stdout + wrong.stderr
    assert not (tmp_path / "bad").exists()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def _serve(folder: Path) -> http.server.ThreadingHTTPServer:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_headline_fresh_profile_zip_setup_map_and_model_on_demand(plugin_zip, wheelhouse, scene,  # noqa: F811
                                                                   tmp_path_factory):
    """From an empty profile: install the zip into the profile's plugin folder, set the backend up with the
    plugin's own module in QGIS's Python (from a wheelhouse, no network), map rice with qgis_process, and install a
    model that is not in the zip from a local server through the zip's own index."""
    if not QGIS_PROCESS.exists():
        pytest.skip(f"{QGIS_PROCESS} is missing; run scripts/setup.sh system")
    started = time.monotonic()
    profile = tmp_path_factory.mktemp("empty-profile")
    plugins = profile / "profiles" / "default" / "python" / "plugins"
    plugins.mkdir(parents=True)
    zipfile.ZipFile(plugin_zip).extractall(plugins)  # what "Install from ZIP" does
    data = profile / "user-data"
    env = {k: v for k, v in os.environ.items() if k not in ("QGIS_PLUGINPATH", "S1RM_MODEL_DIR")}
    env.update(QT_QPA_PLATFORM="offscreen", QGIS_CUSTOM_CONFIG_PATH=str(profile), XDG_RUNTIME_DIR=str(profile),
               S1RM_DATA_DIR=str(data), S1RM_MODEL_DIR=str(data / "models"))
    done, events = run_setup("--wheelhouse", str(wheelhouse), env=env,
                             script=plugins / "s1ricemapper" / "plugin" / "backend_setup.py")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    setup = last(events, "result")
    assert Path(setup["target"]) == data / "backend-env" and setup["state"] == "ready"
    index = json.loads((plugins / "s1ricemapper" / "models" / "index.json").read_text())
    entry = next(e for e in index["models"] if e["name"] == "simta-vv")
    server = _serve(REPO / "dist" / "models")
    try:
        local = {**index, "models": [{**entry, "url": f"http://127.0.0.1:{server.server_address[1]}/"
                                                      f"{Path(urlparse(entry['url']).path).name}"}]}
        (profile / "index.json").write_text(json.dumps(local))
        installed = subprocess.run([setup["backend_python"], "-m", "backend", "models", "--install", "simta-vv",
                                    "--index", str(profile / "index.json"), "--progress", "json"],
                                   cwd=plugins / "s1ricemapper", env=env, capture_output=True, text=True, timeout=120)
    finally:
        server.shutdown()
        server.server_close()
    assert installed.returncode == 0, installed.stdout[-2000:] + installed.stderr[-2000:]
    assert json.loads(installed.stdout.splitlines()[-1])["sha256"] == entry["sha256"]
    assert (data / "models" / "simta-vv" / "model.onnx").is_file()
    enable = _qgis_process(env, "plugins", "enable", "s1ricemapper")
    assert enable.returncode == 0, enable.stdout + enable.stderr
    ini = profile / "profiles" / "default" / "QGIS" / "QGIS3.ini"
    with ini.open("a") as settings:  # what the Settings dialog saves after the set-up
        settings.write(f"\n[s1ricemapper]\nbackend_python={setup['backend_python']}\n")
    out = profile / "first-map"
    run = _qgis_process(env, "--json", "run", "s1ricemapper:maprice", "--", f"VV={scene / 'VV.tif'}",
                        f"VH={scene / 'VH.tif'}", f"SEASON_START={SEASON[0]}", f"SEASON_END={SEASON[1]}",
                        f"OUTPUT_FOLDER={out}")
    seconds = time.monotonic() - started
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "headline_install.json").write_text(json.dumps(
        {"seconds_empty_profile_to_first_map": round(seconds, 1), "map_exit_code": run.returncode,
         "setup_seconds": setup["seconds"], "download_mb": setup["download_mb"], "env_mb": setup["env_mb"],
         "installer": setup["installer"], "zip_bytes": plugin_zip.stat().st_size}, indent=1))
    if run.returncode != 0 and lean_map_gap(run.stdout + run.stderr):
        pytest.fail(LEAN_MAP_GAP)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    written = {p.name for p in out.iterdir()}
    assert {"rice.tif", "rice.qml", "probability.tif", "probability.qml", "run.json"} <= written
    assert json.loads((out / "run.json").read_text())["model"]
