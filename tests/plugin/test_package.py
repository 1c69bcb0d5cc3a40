"""`make package`'s zip: the right files, a clean bandit scan, and it installs into a fresh QGIS profile
where qgis_process finds all five algorithms."""

from __future__ import annotations

import configparser
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import REPO, REPO_BACKEND_PYTHON
from test_processing_fixtures import scene  # noqa: F401

QGIS_PROCESS = Path("/usr/bin/qgis_process.bin")  # Debian's qgis_process wrapper adds an option it rejects
REQUIRED = ["metadata.txt", "__init__.py", "plugin/__init__.py", "plugin/main.py", "plugin/processing/provider.py",
            "backend/__main__.py", "resources/icons/icon.svg", "resources/styles/rice.qml",
            "requirements/backend.txt", "scripts/setup.sh", "Makefile", "models/README.md"]
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
                    "s1ricemapper:riceareastats", "s1ricemapper:fetch"}


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
