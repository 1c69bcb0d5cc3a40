"""The OpenVINO comparison (an experiment) says how to install OpenVINO when it is missing."""

from __future__ import annotations

import subprocess
import sys

from test_map_fixtures import REPO

WITHOUT_OPENVINO = """
import sys
sys.modules['openvino'] = None  # as in an environment without the 'openvino' extra
from backend.experiments.openvino_check import main
sys.exit(main(sys.argv[1:]))
"""


def test_without_openvino_the_check_names_the_extra_and_writes_nothing(tmp_path):
    out = tmp_path / "result.json"
    done = subprocess.run([sys.executable, "-c", WITHOUT_OPENVINO, "--rounds", "1", "--out", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "OpenVINO is not installed" in done.stderr
    assert "--extras openvino" in done.stderr and "Traceback" not in done.stderr
    assert not out.exists()
