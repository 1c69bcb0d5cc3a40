"""``version``: versions of the backend and its libraries, and whether a GPU is visible."""

from __future__ import annotations

import argparse
import platform
import sys

from backend import __version__
from backend.progress import Reporter


def run(args: argparse.Namespace, reporter: Reporter) -> dict:
    import numpy
    import onnxruntime
    import rasterio

    try:  # the lean mapping environment has no PyTorch (it is the optional training / GPU extra)
        import torch
    except ImportError:
        torch = None
    cuda = bool(torch and torch.cuda.is_available())
    return {
        "backend": __version__,
        "python": sys.version.split()[0],
        "interpreter": sys.executable,
        "platform": platform.platform(),
        "numpy": numpy.__version__,
        "torch": torch.__version__ if torch else None,
        "onnxruntime": onnxruntime.__version__,
        "onnxruntime_providers": onnxruntime.get_available_providers(),
        "rasterio": rasterio.__version__,
        "gdal": rasterio.__gdal_version__,
        "gpu": {"available": cuda, "name": torch.cuda.get_device_name(0) if cuda else None,
                "onnx_cuda": "CUDAExecutionProvider" in onnxruntime.get_available_providers()},
    }
