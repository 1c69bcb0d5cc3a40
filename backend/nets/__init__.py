"""PyTorch architectures: shared blocks, one module per family, and a registry by name.

Build any network with :func:`build_model` from the ``(arch, kwargs)`` pair a model card stores.
"""

from backend.nets.blocks import DEFAULT_NORMALIZATION, RiceNet
from backend.nets.recurrent_unet import expand_first_layer
from backend.nets.registry import ARCHITECTURES, build_decision, build_model, model_variants

__all__ = ["ARCHITECTURES", "DEFAULT_NORMALIZATION", "RiceNet", "build_decision", "build_model",
           "expand_first_layer", "model_variants"]
