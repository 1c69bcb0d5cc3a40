"""The block store in the output folder: finished blocks, their manifest, and the run lock.

``<out>/.s1rm-blocks/`` holds one ``<key>.npy`` per finished block, ``(channels, h, w)`` float32
(probability, valid[, heatmap]) for its core, and ``manifest.jsonl``, one line per finished block with
its SHA-256. Blocks are written under a temporary name and renamed, and the manifest line is appended
only after the rename, so a block listed in the manifest is complete. The first line records the *run
key* (inputs, model checksum, season, tiling, block size): a rerun with the same key skips listed blocks,
a different key starts the store afresh. The store is deleted once the final outputs are committed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import IO

import numpy as np

from backend.errors import UserError

STORE_DIR = ".s1rm-blocks"
MANIFEST = "manifest.jsonl"
LOCK_FILE = ".s1rm-map.lock"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def run_key(fields: dict) -> str:
    """A short digest of everything that decides a block's values."""
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:24]


class BlockStore:
    """Finished blocks of one run key in ``out_dir``."""

    def __init__(self, out_dir: str | os.PathLike, key: str) -> None:
        self.folder = Path(out_dir) / STORE_DIR
        self.key = key
        self.done: dict[str, str] = {}
        self._open()

    def _open(self) -> None:
        manifest = self.folder / MANIFEST
        lines = manifest.read_text().splitlines() if manifest.is_file() else []
        header = json.loads(lines[0]) if lines else {}
        if header.get("run_key") != self.key:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder.mkdir(parents=True)
            manifest.write_text(json.dumps({"run_key": self.key}) + "\n")
            return
        for line in lines[1:]:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut short by a kill: that block is simply redone
            path = self.path(entry["block"])
            if path.is_file() and _sha256(path) == entry["sha256"]:
                self.done[entry["block"]] = entry["sha256"]

    def path(self, block_key: str) -> Path:
        return self.folder / f"{block_key}.npy"

    def put(self, block_key: str, values: np.ndarray) -> None:
        """Store a finished block (atomic rename, then a manifest line)."""
        final = self.path(block_key)
        tmp = final.with_name(f".{final.stem}.partial.npy")
        np.save(tmp, np.ascontiguousarray(values, np.float32))
        os.replace(tmp, final)
        digest = _sha256(final)
        with (self.folder / MANIFEST).open("a") as fh:
            fh.write(json.dumps({"block": block_key, "sha256": digest}) + "\n")
        self.done[block_key] = digest

    def get(self, block_key: str) -> np.ndarray:
        """The block's values, memory-mapped (assembly reads them strip by strip)."""
        return np.load(self.path(block_key), mmap_mode="r")

    @staticmethod
    def discard(out_dir: str | os.PathLike) -> None:
        """Delete the store of ``out_dir`` (once the final outputs are committed)."""
        shutil.rmtree(Path(out_dir) / STORE_DIR, ignore_errors=True)


class RunLock:
    """An exclusive ``flock`` on ``<out>/.s1rm-map.lock``; the kernel releases it when the process dies."""

    def __init__(self, out_dir: str | os.PathLike) -> None:
        self.path = Path(out_dir) / LOCK_FILE
        self._fh: IO[str] | None = None

    def __enter__(self) -> RunLock:
        import fcntl

        fh = self.path.open("a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise UserError(f"another map run ({holder}) is writing into {self.path.parent}; wait for it to "
                            "finish or choose another {param:out}", param="out") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}")
        fh.flush()
        self._fh = fh
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            self._fh.close()  # the file stays: unlinking it would let two runs lock different inodes
            self._fh = None
