"""Model folder confinement: every file a card names must be a plain name that stays inside the folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from backend.errors import UserError
from backend.modelstore import confined_file, load_card
from backend.modelstore.card import sha256_file

BAD_NAMES = ["../secret.bin", "../../secret.bin", "sub/model.onnx", "..", ".", "", "/etc/passwd",
             "C:evil.onnx", "C:\\Windows\\evil.onnx", "..\\secret.bin", "model.onnx\0.txt"]


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    model = tmp_path / "models" / "m"
    model.mkdir(parents=True)
    (model / "model.onnx").write_bytes(b"inside")
    (tmp_path / "models" / "secret.bin").write_bytes(b"outside")
    return model


@pytest.mark.parametrize("name", BAD_NAMES)
def test_names_that_are_not_plain_are_refused(folder: Path, name: str) -> None:
    with pytest.raises(UserError, match="not a plain file name") as err:
        confined_file(folder, name)
    assert str(folder / "card.json") in str(err.value)


def test_plain_name_and_inner_symlink_are_accepted(folder: Path) -> None:
    assert confined_file(folder, "model.onnx") == folder / "model.onnx"
    (folder / "alias.onnx").symlink_to("model.onnx")
    assert confined_file(folder, "alias.onnx") == folder / "alias.onnx"


def test_symlink_leaving_the_folder_is_refused(folder: Path) -> None:
    (folder / "weights.safetensors").symlink_to(folder.parent / "secret.bin")
    with pytest.raises(UserError, match="outside its model folder"):
        confined_file(folder, "weights.safetensors")


def test_card_with_traversal_and_true_checksum_is_refused(folder: Path) -> None:
    """The reported oracle: a card naming ../secret.bin with its real SHA-256 must not verify."""
    secret = folder.parent / "secret.bin"
    card = {"name": "m", "version": "1", "arch": "x", "arch_kwargs": {}, "fusion": {}, "inputs": {},
            "classes": {}, "files": {"../secret.bin": {"sha256": sha256_file(secret), "bytes": 7}}}
    (folder / "card.json").write_text(json.dumps(card))
    with pytest.raises(UserError, match="not a plain file name"):
        load_card(folder, verify=True)
    assert os.path.exists(secret)
