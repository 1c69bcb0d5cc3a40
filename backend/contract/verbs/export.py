"""``export``: rebuild a PyTorch model's folder (fresh ONNX with parity check, embedded card, checksums)."""

from __future__ import annotations

from ..schema import Option, Verb

VERB = Verb(
    name="export",
    help="re-export a PyTorch model (weights -> ONNX with parity check, card, checksums) into a new folder",
    options=(
        Option("model", "model", "Model", "installed model name or model folder to export", required=True,
               positional=True, metavar="NAME|PATH"),
        Option("out", "folder", "New model folder", "new model folder; its last component is the model name "
               "unless a name is given", required=True, metavar="DIR"),
        Option("name", "str", "New model name", "name written into the new card (default: the output folder's "
               "name)"),
        Option("overwrite", "bool", "Replace the folder", "replace the output folder if it exists (never a bundled "
               "model)", default=False),
    ),
    result_keys=("path", "card"),
)
