"""Shared by the set-up, Settings and package tests: one wheelhouse of the lean environment per requirements."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import REPO

SETUP = REPO / "plugin" / "backend_setup.py"


def run_setup(*args: str, env: dict | None = None, timeout: int = 600,
              script: Path = SETUP) -> tuple[subprocess.CompletedProcess, list]:
    """The set-up module in a subprocess of QGIS's Python with JSON progress; the process and its events."""
    done = subprocess.run([sys.executable, str(script), *args, "--progress", "json"], capture_output=True, text=True,
                          timeout=timeout, env=env or os.environ.copy())
    return done, [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


#: The failure these tests guard against: code on the map path that imports a library outside
#: requirements/mapping.txt, which the backend refuses with "this needs <module>".
LEAN_MAP_GAP = ("map in the lean environment imports a library outside requirements/mapping.txt: move that import off "
                "the map path or add the library to the lean set (docs/install.md)")


def lean_map_gap(output: str) -> bool:
    """True when the backend refused a lean-environment map because it needs a module of an extra."""
    return "this needs " in output and "optional PyTorch extra" in output


def last(events: list, kind: str) -> dict:
    return next(e for e in reversed(events) if e["event"] == kind)


@pytest.fixture(scope="session")
def wheelhouse() -> Path:
    """Every wheel of the lean environment (and uv), as `make wheelhouse` builds it; kept in the temp folder
    under the requirements' hash, so later runs (and every test module) reuse it."""
    import hashlib

    digest = hashlib.sha256((REPO / "requirements" / "mapping.txt").read_bytes()).hexdigest()[:12]
    folder = Path(tempfile.gettempdir()) / f"s1rm-test-wheelhouse-{digest}"
    if not (folder / ".complete").exists():
        done, events = run_setup("--build-wheelhouse", str(folder))
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
        assert last(events, "result")["files"] >= 5
        (folder / ".complete").touch()
    return folder
