"""docs/mapping.md's measured Deepness table is the one scripts/bench_tables.py writes from the committed JSON."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_mapping_doc_table_matches_the_committed_result():
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "bench_tables.py"), "--check"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    doc = (REPO / "docs" / "mapping.md").read_text()
    assert "| 512² (our tile 288) |" in doc
    assert "| 10240², 13 dates, with heat map, ONNX Runtime |" in doc  # the memory table (docs/bench/memory.json)
    assert "| 10240², 13 dates, no heat map, OpenVINO |" in doc
    assert "| 1024², session 9 (2026-12-03) | `--engine openvino --precision bf16` |" in doc  # the engines table


def test_reproduction_doc_table_is_generated_from_the_committed_result():
    import json

    from backend.experiments.reproduction import markdown_table

    rows = json.loads((REPO / "docs" / "reproduction.json").read_text())
    assert markdown_table(rows).strip() in (REPO / "docs" / "reproduction.md").read_text()
