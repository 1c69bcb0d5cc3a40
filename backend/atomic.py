"""Write outputs under temporary names and rename them only when complete.

A cancelled or failed run must never leave a file under a final name. :class:`AtomicOutputs`
hands out temporary paths inside the output folder and renames all of them on :meth:`commit`;
leaving the ``with`` block without committing removes every temporary file.

A process killed with SIGKILL cannot clean up after itself, so temporary names carry the writer's
process id (``.rice.partial-1234.tif``) and two things remove them: a tiny watcher process that
deletes them when its parent dies (it sees its stdin pipe close), and a sweep of temporaries
whose process is gone whenever a folder is opened for writing.

The commit of several files is made all-or-nothing by a journal: before the first rename,
``.s1rm-commit.partial-1234.json`` lists every (temporary, final) pair and is made durable; the renames
follow and the journal is removed last. A run killed during the renames leaves the journal, and whoever
finds it first (the watcher, the next run's sweep, or :func:`recover` before reading a folder) rolls the
commit forward: every temporary still there is renamed to its final name. So after recovery the final
names hold either all the old run's files (killed before the journal existed: the temporaries are deleted)
or all the new run's (killed after: rolled forward), never a mixture.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import sys
from glob import escape as glob_escape
from pathlib import Path
from types import TracebackType

from backend.errors import Cancelled, UserError

PARTIAL_SUFFIX = ".partial"
_PARTIAL = re.compile(r"^\..+\.partial-(\d+)(\..*)?$")
JOURNAL_STEM = ".s1rm-commit"
_JOURNAL = re.compile(r"^\.s1rm-commit\.partial-(\d+)\.json$")
_ROOT = str(Path(__file__).resolve().parents[1])
# run by the watcher (without site-packages, so it starts fast): wait for the parent's pipe to close;
# unless told "done", finish the parent's commit if it was killed in the middle, then remove its temporaries
_WATCHER = f"""
import sys
sys.path.insert(0, {_ROOT!r})
if sys.stdin.read() != 'done':
    from backend.atomic import clean_after
    clean_after(sys.argv[1], int(sys.argv[2]))
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


def _of_dead_writers(folder: str | os.PathLike, pattern: re.Pattern) -> list[Path]:
    """Entries of ``folder`` matching ``pattern`` (group 1: the writer's process id) whose writer is gone."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return [Path(folder) / name for name in names
            if (match := pattern.match(name)) and not _alive(int(match.group(1)))]


def sweep_stale(folder: Path) -> list[Path]:
    """Remove temporaries in ``folder`` left by processes that no longer run; returns what was removed.

    Args:
        folder: An output or model folder.

    Returns:
        The removed paths.
    """
    removed: list[Path] = []
    recover(folder)
    for path in _of_dead_writers(folder, _PARTIAL):
        try:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
            removed.append(path)
        except OSError:
            pass
    return removed


def journal_path(folder: Path, pid: int | None = None) -> Path:
    """Where the commit journal of process ``pid`` (default: this one) lives in ``folder``."""
    return Path(folder) / f"{JOURNAL_STEM}{PARTIAL_SUFFIX}-{os.getpid() if pid is None else pid}.json"


def _fsync(path: Path) -> None:
    """Flush a file (or a folder's entries) to disk; a file system that cannot do it is left as it is."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _replace(tmp: Path, final: Path) -> None:
    """Rename ``tmp`` over ``final``; a folder over an existing folder goes through a hidden old name."""
    if tmp.is_dir() and final.is_dir() and not final.is_symlink():
        old = final.with_name(f".{final.name}.old{PARTIAL_SUFFIX}-{os.getpid()}")
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)


def roll_forward(journal: Path) -> list[Path]:
    """Finish the commit described by ``journal``: rename every temporary still there, then drop the journal.

    Idempotent, so a second finder (or a rerun after a kill during this) does no harm.

    Args:
        journal: A commit journal (``.s1rm-commit.partial-PID.json``).

    Returns:
        The final paths that were renamed now.
    """
    folder = journal.parent
    try:
        record = json.loads(journal.read_text())
        pairs = record["renames"]
    except (OSError, ValueError, KeyError, TypeError):  # unreadable: never became the journal
        journal.unlink(missing_ok=True)
        return []
    done = []
    for stale_name in record.get("removes", []):  # an earlier run's files this run replaces by nothing
        (folder / stale_name).unlink(missing_ok=True)
    for tmp_name, final_name in pairs:
        tmp, final = folder / tmp_name, folder / final_name
        if tmp.exists() or tmp.is_symlink():
            try:
                _replace(tmp, final)
                done.append(final)
            except FileNotFoundError:  # another finder was quicker
                pass
    _fsync(folder)
    journal.unlink(missing_ok=True)
    return done


def recover(folder: str | os.PathLike) -> list[Path]:
    """Roll forward every commit in ``folder`` whose writer has died; call it before reading results.

    Args:
        folder: An output folder.

    Returns:
        The final paths that were completed.
    """
    done: list[Path] = []
    for journal in _of_dead_writers(folder, _JOURNAL):
        done += roll_forward(journal)
    return done


def clean_after(folder: str | os.PathLike, pid: int) -> None:
    """What the watcher does when process ``pid`` died: finish its commit if one had begun, then delete
    its remaining temporaries."""
    folder = Path(folder)
    journal = journal_path(folder, pid)
    if journal.exists():
        roll_forward(journal)
    pattern = re.compile(r"^\..+\.partial-" + str(pid) + r"(\..*)?$")
    for name in os.listdir(folder):
        if pattern.match(name):
            path = folder / name
            shutil.rmtree(path, True) if path.is_dir() else path.unlink(missing_ok=True)


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


def _nearly_full(folder: Path) -> bool:
    """Less than 1 MiB free where ``folder`` is: a failure there is the disk's, whatever the error says."""
    try:
        return shutil.disk_usage(folder).free < 2 ** 20
    except OSError:
        return False


def _check_name(folder: Path) -> None:
    """Refuse a folder the system cannot even look up (a name too long, a loop of links, a NUL byte)."""
    try:
        folder.exists()
        partial_path(folder / ("n" * 64)).exists()  # longer than any output name, temporaries included
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise UserError(f"output folder {str(folder)[:120]}{'...' if len(str(folder)) > 120 else ''} cannot be "
                        f"used: {reason}; choose a shorter or simpler {{param:out}}", param="out") from exc


def check_outputs(out_dir: str | os.PathLike, names: list[str] | tuple[str, ...], overwrite: bool) -> None:
    """What :class:`AtomicOutputs` would refuse for ``names`` in ``out_dir``, checked without writing anything
    (``--check-only``): a file in the way of the folder, a folder that cannot be written or created, and
    results already there without ``overwrite``.

    Raises:
        UserError: the first problem, naming the output folder or the overwrite switch.
    """
    folder = Path(out_dir)
    _check_name(folder)
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
    ``family`` names every file the verb may write there (e.g. ``heatmap.tif``): one this run does not write
    is an earlier run's, and would sit beside the new results looking like theirs, so ``overwrite`` removes
    it in the same commit, and without ``overwrite`` it is refused like any existing result.
    """

    def __init__(self, out_dir: str | os.PathLike, overwrite: bool = False, family: tuple[str, ...] = ()) -> None:
        self.out_dir = Path(out_dir)
        self.overwrite = overwrite
        self.family = family
        self._pending: dict[Path, Path] = {}
        self._created_dir = False
        self._watcher: PartialWatcher | None = None

    def __enter__(self) -> AtomicOutputs:
        _check_name(self.out_dir)
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
        for name in self.family:
            _refuse_existing(self.out_dir / name, self.overwrite)
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
        """Publish every temporary under its final name, all or nothing even under SIGKILL (see the module
        docstring): flush the files, write the journal, rename (records such as run.json last), drop the
        journal. Returns the final paths."""
        missing = [str(t) for t in self._pending.values() if not t.exists()]
        if missing:
            raise RuntimeError(f"outputs were never written: {missing}")
        for tmp in self._pending.values():
            if tmp.is_file():
                _fsync(tmp)
        order = sorted(self._pending.items(), key=lambda pair: pair[0].suffix == ".json")
        journal = journal_path(self.out_dir)
        writing = journal.with_name(f"{JOURNAL_STEM}-writing{PARTIAL_SUFFIX}-{os.getpid()}.json")
        try:
            writing.write_text(json.dumps({"renames": [[os.path.relpath(t, self.out_dir),
                                                        os.path.relpath(f, self.out_dir)] for f, t in order],
                                           "removes": self._stale_names()}))
            _fsync(writing)
            os.replace(writing, journal)  # from here on the commit is decided: recovery rolls it forward
        except BaseException:  # e.g. the disk filled up: nothing was decided, the old results stay
            writing.unlink(missing_ok=True)
            raise
        _fsync(self.out_dir)
        done = [final for final, _ in order]
        self._pending.clear()  # the temporaries now belong to the journal, not to discard()
        roll_forward(journal)
        return done

    def _stale_names(self) -> list[str]:
        """The verb's files left in the folder by an earlier run that this commit does not replace."""
        written = {final.name for final in self._pending}
        return [name for name in self.family if name not in written and (self.out_dir / name).is_file()]

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
        # the folder vanished under the run (not removed by discard() below): the writers then fail with
        # whatever their library says, so say it in words
        vanished = (exc_type is not None and issubclass(exc_type, Exception)
                    and not issubclass(exc_type, (UserError, Cancelled)) and not self.out_dir.is_dir())
        nearly_full = exc_type is not None and _nearly_full(self.out_dir)  # before discard() frees the space
        if exc_type is not None or self._pending:
            self.discard()
        if self._watcher is not None:
            self._watcher.__exit__()
            self._watcher = None
        if exc_type is not None and issubclass(exc_type, Exception) and not issubclass(exc_type, UserError):
            from backend.writers.geotiff import disk_full_error  # lazy: numpy; the watcher runs without site

            full = disk_full_error(self.out_dir, exc) if exc is not None else None
            if full is None and nearly_full:  # libraries also fail later, e.g. reading back a cut file
                full = disk_full_error(self.out_dir, OSError(errno.ENOSPC, "no space left on device"))
            if full is not None:  # every verb's full disk in words, whatever library hit it
                raise full from exc
        if vanished:
            raise UserError(f"output folder {self.out_dir} disappeared during the run (deleted, moved or "
                            "unmounted); nothing was kept. Choose an existing {param:out} folder and run again",
                            param="out") from exc
