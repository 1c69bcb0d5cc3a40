"""``version``: versions of the backend and its libraries, and whether a GPU is visible."""

from __future__ import annotations

from ..schema import Verb

VERB = Verb(
    name="version",
    help="report backend, library and GPU versions (used by the plugin's 'Check backend')",
    options=(),
    result_keys=("backend", "python", "interpreter", "platform", "numpy", "torch", "onnxruntime",
                 "onnxruntime_providers", "rasterio", "gdal", "gpu"),
)
