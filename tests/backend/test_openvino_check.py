"""The OpenVINO comparison (an experiment, not a dependency) says how to install OpenVINO when it is missing."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest
from test_map_fixtures import REPO


@pytest.mark.skipif(importlib.util.find_spec("openvino") is not None, reason="OpenVINO is installed here")
def test_without_openvino_the_check_names_the_install_command_and_writes_nothing(tmp_path):
    out = tmp_path / "result.json"
    done = subprocess.run([sys.executable, "-m", "backend.experiments.openvino_check", "--rounds", "1",
                           "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "OpenVINO is not installed" in done.stderr
    assert "pip install --no-deps --target" in done.stderr
    assert not out.exists()
