"""`make package`'s zip: the right files, a clean bandit scan, and it installs into a fresh QGIS profile
where qgis_process finds all four algorithms."""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import REPO

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


def test_qgis_process_lists_all_algorithms_from_the_installed_zip(installed, tmp_path):
    if not QGIS_PROCESS.exists():
        pytest.skip(f"{QGIS_PROCESS} is missing; run scripts/setup.sh system")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QGIS_PLUGINPATH": str(installed),
           "QGIS_CUSTOM_CONFIG_PATH": str(tmp_path / "profile"), "XDG_RUNTIME_DIR": str(tmp_path)}
    enable = subprocess.run([str(QGIS_PROCESS), "plugins", "enable", "s1ricemapper"], env=env, capture_output=True,
                            text=True, timeout=120)
    assert enable.returncode == 0, enable.stdout + enable.stderr
    listing = subprocess.run([str(QGIS_PROCESS), "list"], env=env, capture_output=True, text=True, timeout=120)
    assert listing.returncode == 0, listing.stderr
    ours = {line.split()[0] for line in listing.stdout.splitlines() if line.strip().startswith("s1ricemapper:")}
    assert ours == {"s1ricemapper:maprice", "s1ricemapper:finetune", "s1ricemapper:evaluate",
                    "s1ricemapper:riceareastats"}
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)
