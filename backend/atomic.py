"""Write outputs under temporary names and rename them only when complete.

A cancelled or failed run must never leave a file under a final name. :class:`AtomicOutputs`
hands out temporary paths inside the output folder and renames all of them on :meth:`commit`;
leaving the ``with`` block without committing removes every temporary file.

A process killed with SIGKILL cannot clean up after itself, so temporary names carry the writer's
process id (``.rice.partial-1234.tif``) and two things remove them: a tiny watcher process that
deletes them when its parent dies (it sees its stdin pipe close), and a sweep of temporaries
whose process is gone whenever a folder is opened for writing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from glob import escape as glob_escape
from pathlib import Path
from types import TracebackType

from backend.errors import UserError

PARTIAL_SUFFIX = ".partial"
_PARTIAL = re.compile(r"^\..+\.partial-(\d+)(\..*)?$")
# run by the watcher: wait for the parent's pipe to close; unless told "done", remove its temporaries
_WATCHER = """
import os, re, shutil, sys
folder, pid = sys.argv[1], sys.argv[2]
if sys.stdin.read() != 'done':
    pattern = re.compile(r'^\\..+\\.partial-' + pid + r'(\\..*)?$')
    for name in os.listdir(folder):
        if pattern.match(name):
            path = os.path.join(folder, name)
            shutil.rmtree(path, True) if os.path.isdir(path) else os.unlink(path)
"""


def partial_path(final: Path) -> Path:
    """Hidden temporary name for ``final`` that keeps its extension (GDAL/OGR infer drivers from it)."""
    return final.with_name(f".{final.stem}{PARTIAL_SUFFIX}-{os.getpid()}{final.suffix}")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name == "nt":  # os.kill(pid, 0) would send CTRL_C there; leave it to the watcher
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # someone else's process
        return True
    return True


def sweep_stale(folder: Path) -> list[Path]:
    """Remove temporaries in ``folder`` left by processes that no longer run; returns what was removed.

    Args:
        folder: An output or model folder.

    Returns:
        The removed paths.
    """
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        match = _PARTIAL.match(name)
        if match and not _alive(int(match.group(1))):
            path = Path(folder) / name
            try:
                shutil.rmtree(path) if path.is_dir() else path.unlink()
                removed.append(path)
            except OSError:
                pass
    return removed


class PartialWatcher:
    """A child process that removes this process's temporaries in ``folder`` if this process dies.

    Use as a context manager around the writing; leaving it normally tells the watcher all is done.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._child: subprocess.Popen | None = None

    def __enter__(self) -> PartialWatcher:
        try:
            self._child = subprocess.Popen([sys.executable, "-S", "-c", _WATCHER, str(self.folder), str(os.getpid())],
                                           stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL, start_new_session=True)
        except OSError:  # no watcher: the next sweep_stale still removes the temporaries
            self._child = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._child is None:
            return
        try:
            self._child.communicate(b"done", timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self._child.kill()


def _refuse_existing(final: Path, overwrite: bool) -> None:
    if final.exists() and not overwrite:
        raise UserError(f"{final} already exists; turn on {{param:overwrite}} to replace it or choose another "
                        "{param:out}", param="overwrite")


def check_outputs(out_dir: str | os.PathLike, names: list[str] | tuple[str, ...], overwrite: bool) -> None:
    """What :class:`AtomicOutputs` would refuse for ``names`` in ``out_dir``, checked without writing anything
    (``--check-only``): a file in the way of the folder, a folder that cannot be written or created, and
    results already there without ``overwrite``.

    Raises:
        UserError: the first problem, naming the output folder or the overwrite switch.
    """
    folder = Path(out_dir)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"output folder {folder} exists and is not a folder; choose another {{param:out}}",
                        param="out")
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is None or not existing.is_dir() or not os.access(existing, os.W_OK):
        raise UserError(f"output folder {folder} cannot be written or created; choose another {{param:out}}",
                        param="out")
    for name in names:
        _refuse_existing(folder / name, overwrite)


class AtomicOutputs:
    """Collect outputs for one folder; publish them together or not at all.

    ``overwrite=False`` refuses to replace an existing final file, naming it in the message.
    """

    def __init__(self, out_dir: str | os.PathLike, overwrite: bool = False) -> None:
        self.out_dir = Path(out_dir)
        self.overwrite = overwrite
        self._pending: dict[Path, Path] = {}
        self._created_dir = False
        self._watcher: PartialWatcher | None = None

    def __enter__(self) -> AtomicOutputs:
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise UserError(f"output folder {self.out_dir} exists and is not a folder; choose another {{param:out}}",
                            param="out")
        if not self.out_dir.exists():
            try:
                self.out_dir.mkdir(parents=True)
            except OSError as exc:
                raise UserError(f"cannot create output folder {self.out_dir}: {exc.strerror}; "
                                "choose a folder you can write to with {param:out}", param="out") from exc
            self._created_dir = True
        if not os.access(self.out_dir, os.W_OK):
            raise UserError(f"output folder {self.out_dir} is not writable; choose another {{param:out}}",
                            param="out")
        sweep_stale(self.out_dir)
        self._watcher = PartialWatcher(self.out_dir).__enter__()
        return self

    def path(self, name: str) -> Path:
        """Temporary path for final file ``name``; the file appears under ``name`` on commit."""
        final = self.out_dir / name
        _refuse_existing(final, self.overwrite)
        tmp = partial_path(final)
        self._pending[final] = tmp
        return tmp

    def commit(self) -> list[Path]:
        """Rename every temporary file to its final name; returns the final paths."""
        missing = [str(t) for t in self._pending.values() if not t.exists()]
        if missing:
            raise RuntimeError(f"outputs were never written: {missing}")
        for final, tmp in self._pending.items():
            os.replace(tmp, final)
        done = list(self._pending)
        self._pending.clear()
        return done

    def discard(self) -> None:
        for tmp in self._pending.values():
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)
            # sidecars GDAL may have written beside a temporary raster
            for side in tmp.parent.glob(glob_escape(tmp.name) + ".*"):
                side.unlink(missing_ok=True)
        self._pending.clear()
        if self._created_dir:
            try:
                self.out_dir.rmdir()  # only if nothing else landed there
            except OSError:
                pass

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is not None or self._pending:
            self.discard()
        if self._watcher is not None:
            self._watcher.__exit__()
            self._watcher = None
