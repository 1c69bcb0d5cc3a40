"""Ready for QGIS 4 / Qt6: QGIS's own migration scanner (``scripts/pyqt5_to_pyqt6`` of the QGIS repository) finds
nothing in plugin/ (its report goes to ``test_artifacts/qt6_findings.json``), and metadata.txt declares Qt6 support.

The scanner is QGIS's code, so it is not committed here: ``make qt6-scanner`` puts it into
``~/.cache/s1ricemapper/pyqt5_to_pyqt6/`` (or ``$S1RM_QT6_SCANNER``). Its enum table (``enums.json``, made in QGIS
4 by introspecting PyQt6) is rebuilt here from this QGIS 3.22 / PyQt5 by the same rule: every ``Class.Value`` that
Qt6 only accepts as ``Class.Enum.Value``."""

from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ARTIFACTS, REPO

SCANNER_DIR = Path(os.environ.get("S1RM_QT6_SCANNER") or Path.home() / ".cache" / "s1ricemapper" / "pyqt5_to_pyqt6")
SCANNER = SCANNER_DIR / "pyqt5_to_pyqt6.py"
#: Where the scanner's findings are written (the test fails on any of them).
FINDINGS_REPORT = "qt6_findings.json"
#: Not a finding: with the enum table rebuilt from PyQt5, the scanner rewrites ``QVariant.Double`` into
#: ``QVariant.Type.Double`` and back again on every pass. Qt6's spelling is ``QMetaType.Type.Double``, which QGIS 3.22
#: lacks, so QgsField types stay ``QVariant.X`` until the plugin requires QGIS >= 3.38.
QVARIANT_FLIP = re.compile(r"QVariant\.(Type\.)?[A-Z][A-Za-z]*\b")
MODULES = ["qgis.core", "qgis.gui", "qgis.PyQt.QtCore", "qgis.PyQt.QtGui", "qgis.PyQt.QtWidgets"]

ENUM_TABLE = """
import importlib, json, sys
from qgis.PyQt.QtCore import Qt
enumtype = type(type(Qt.AlignLeft))  # sip's enum metaclass
table = {}
for module_name in sys.argv[2:]:
    for class_name, cls in vars(importlib.import_module(module_name)).items():
        if not isinstance(cls, type):
            continue
        for attr in dir(cls):
            try:
                kind = type(getattr(cls, attr))
            except Exception:
                continue
            if isinstance(kind, enumtype) and attr != kind.__name__:
                table[f"{class_name}:{attr}"] = kind.__name__
json.dump({"qt_enums": table, "ambiguous_enums": {}}, open(sys.argv[1], "w"))
"""

# The scanner looks its classes up in its own globals (PyQt6 there); give it this QGIS's classes instead.
RUN_SCANNER = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("pyqt5_to_pyqt6", sys.argv[1])
scanner = importlib.util.module_from_spec(spec)
spec.loader.exec_module(scanner)
for name in sys.argv[3:]:
    scanner.__dict__.update({k: v for k, v in vars(importlib.import_module(name)).items() if not k.startswith("_")})
sys.exit(scanner.main([sys.argv[2]]))
"""


def test_metadata_declares_qt6_and_qgis4():
    metadata = configparser.ConfigParser()
    metadata.read(REPO / "metadata.txt")
    general = metadata["general"]
    assert general["supportsQt6"] == "True" and general["qgisMaximumVersion"] == "4.99"


def test_qgis_pyqt5_to_pyqt6_scanner_finds_nothing_in_the_plugin(tmp_path):
    if not SCANNER.is_file():
        pytest.skip(f"QGIS's pyqt5_to_pyqt6 scanner is not in {SCANNER_DIR}: `make qt6-scanner` fetches it from the "
                    "QGIS repository (needs access to github.com), or set S1RM_QT6_SCANNER")
    pytest.importorskip("tokenize_rt", reason="the scanner needs tokenize-rt (requirements/qgis-test.txt)")
    work = tmp_path / "scanner"
    work.mkdir()
    shutil.copy(SCANNER, work / SCANNER.name)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    table = subprocess.run([sys.executable, "-c", ENUM_TABLE, str(work / "enums.json"), *MODULES], env=env,
                           capture_output=True, text=True, timeout=300)
    assert table.returncode == 0, table.stderr[-2000:]
    assert len(json.loads((work / "enums.json").read_text())["qt_enums"]) > 1000
    plugin = tmp_path / "plugin"
    shutil.copytree(REPO / "plugin", plugin, ignore=shutil.ignore_patterns("__pycache__"))
    scan = subprocess.run([sys.executable, "-c", RUN_SCANNER, str(work / SCANNER.name), str(plugin), *MODULES],
                          env=env, capture_output=True, text=True, timeout=300)
    per_file = findings_per_file(scan.stdout + scan.stderr, plugin)
    assert scan.stdout.count("Processing ") >= 15  # it really read the plugin's modules
    assert not [line for line in scan.stderr.splitlines() if "Traceback" in line], scan.stderr[-2000:]
    findings = {name: [line for line in lines if not QVARIANT_FLIP.search(line)] for name, lines in per_file.items()}
    findings = {name: lines for name, lines in findings.items() if lines}
    ARTIFACTS.mkdir(exist_ok=True)
    report = {"files": len(per_file), "findings": sum(map(len, per_file.values())), "per_file": per_file}
    (ARTIFACTS / FINDINGS_REPORT).write_text(json.dumps(report, indent=1))
    assert findings == {}, json.dumps(findings, indent=1)


def findings_per_file(output: str, root: Path) -> dict[str, list[str]]:
    """The scanner's proposed changes (``-`` lines of its diffs, its warnings and errors) by plugin file."""
    found: dict[str, list[str]] = {}
    current = None
    for line in output.splitlines():
        if line.startswith("--- "):
            current = Path(line[4:].strip()).relative_to(root).as_posix()
        elif line.startswith("-") and current:
            found.setdefault(current, []).append(line[1:].strip())
        elif "WARNING" in line or "ERROR" in line:
            name = Path(line.split(":", 1)[0]).relative_to(root).as_posix() if line.startswith(str(root)) else "?"
            found.setdefault(name, []).append(line)
    return found
