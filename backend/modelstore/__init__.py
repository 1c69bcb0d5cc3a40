"""Model folders and cards: find by name or path, verify checksums, load PyTorch or ONNX, save.

A model is a folder ``<name>/`` holding ``card.json``, ``weights.safetensors`` (PyTorch networks) and
``model.onnx`` (card embedded in its metadata). Heavy libraries load lazily inside the functions.
"""

from backend.modelstore.card import check_inputs, list_models, load_card, new_card, update_card, verify_files
from backend.modelstore.onnx_io import checked_onnx_file, open_onnx, physical_cores
from backend.modelstore.paths import BUNDLED_DIR, confined_file, model_dirs, resolve, user_model_dir
from backend.modelstore.writer import write_model_folder

__all__ = ["BUNDLED_DIR", "check_inputs", "checked_onnx_file", "confined_file", "list_models", "load_card", "load_torch", "model_dirs", "new_card",
           "open_onnx", "physical_cores", "resolve", "save_model", "update_card", "user_model_dir",
           "verify_files", "write_model_folder"]


def __getattr__(name: str):  # torch is imported only when a PyTorch helper is asked for
    if name in ("save_model", "load_torch"):
        from backend.modelstore import torch_io  # lazy: torch (only the PyTorch helpers need it)
        return getattr(torch_io, name)
    raise AttributeError(name)
