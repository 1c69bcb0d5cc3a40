"""Models on demand: a model index, verified downloads with resume, atomic installs into the user's model folder.

A downloadable model is one zip archive of its folder (``card.json``, ``model.onnx``, ``weights.safetensors``).
The index (JSON, :data:`INDEX_FORMAT`) lists for each model its name, version, size, SHA-256, URL, licence and a
card summary. An install downloads to ``<user models>/.downloads/<name>-<version>.zip.part`` (an interrupted
download resumes with an HTTP range request), checks size and SHA-256 of the whole archive *before* anything
reads it, unpacks it into a staging folder (plain file names only), checks every file against the unpacked card,
and only then swaps the folder into place; on any failure the previously installed model stays as it was.
Standard library only, so the plugin's packaging script can build archives and the index without the backend
environment.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import stat
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable
from urllib.parse import unquote, urlparse

from backend.errors import UserError
from backend.modelstore.card import load_card, read_card, sha256_file
from backend.modelstore.paths import BUNDLED_DIR, CARD_FILE, confined_file, user_model_dir

INDEX_FORMAT = "s1ricemapper-model-index/1"
INDEX_FILE = "index.json"
INDEX_ENV = "S1RM_MODEL_INDEX"
DEFAULT_INDEX = BUNDLED_DIR / INDEX_FILE
SCHEMES = ("http", "https", "file")
DOWNLOADS = ".downloads"
CHUNK = 1 << 16
TIMEOUT_S = 30
#: An archive may unpack to at most this many times its size (ONNX / safetensors barely compress): zip bombs.
MAX_RATIO = 20
#: Fixed time stamp of archive members, so the same model folder always gives the same SHA-256.
ZIP_DATE = (2026, 1, 1, 0, 0, 0)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")

Progress = Callable[[int, int], None]  # (bytes done, bytes total)


# --- index -------------------------------------------------------------------------------------------------------
def index_location(value: str | None = None) -> str:
    """The index to use: ``value``, else ``$S1RM_MODEL_INDEX``, else the index shipped in ``models/``."""
    return value or os.environ.get(INDEX_ENV) or str(DEFAULT_INDEX)


def check_url(url: str, what: str) -> str:
    """Refuse any URL that is not http(s) or file (or a plain local path, returned as it is).

    Raises:
        UserError: naming ``what`` and the URL.
    """
    scheme = urlparse(url).scheme.lower()
    if len(scheme) == 1 or not scheme:  # a plain path (a Windows drive letter parses as a scheme)
        return url
    if scheme not in SCHEMES:
        raise UserError(f"{what} {url!r} uses the scheme {scheme!r}; only http(s) and file URLs are accepted "
                        "(fix the model index or give a local file: {param:source})")
    return url


def _local_path(url: str) -> Path | None:
    """The file a ``file:`` URL or a plain path names; None for http(s)."""
    parsed = urlparse(url)
    if parsed.scheme.lower() in ("http", "https"):
        return None
    if parsed.scheme.lower() == "file":
        path = unquote(parsed.path)
        return Path(path[1:] if re.match(r"^/[A-Za-z]:", path) else path)
    return Path(url).expanduser()


def load_index(location: str | None = None) -> dict:
    """Read and check a model index from a file path, a file URL or an http(s) URL.

    Returns:
        ``{"location", "models": [entry, ...]}`` with every entry checked by :func:`check_entry`.

    Raises:
        UserError: the index cannot be reached or read, or an entry is invalid.
    """
    where = check_url(index_location(location), "model index")
    try:
        local = _local_path(where)
        if local is not None:
            text = local.read_text(encoding="utf-8")
        else:
            with urllib.request.urlopen(where, timeout=TIMEOUT_S) as answer:  # nosec B310: scheme checked
                text = answer.read(16 << 20).decode("utf-8")
    except (OSError, urllib.error.URLError, UnicodeDecodeError) as err:
        raise UserError(f"the model index {where} cannot be reached ({_reason(err)}); check the network or the "
                        "{param:index} setting, or install the model from a file ({param:source})") from None
    try:
        data = json.loads(text)
    except ValueError as err:
        raise UserError(f"the model index {where} is not valid JSON ({err}); check the 'Model index' setting") from None
    if not isinstance(data, dict) or data.get("format") != INDEX_FORMAT or not isinstance(data.get("models"), list):
        raise UserError(f"{where} is not an S1 Rice Mapper model index (format {INDEX_FORMAT!r} expected)")
    return {"location": where, "models": [check_entry(e, where) for e in data["models"]]}


def check_entry(entry: Any, where: str = "the model index") -> dict:
    """One index entry with a plain name, a 64-hex SHA-256, a positive size and an http(s)/file URL.

    Raises:
        UserError: naming the entry and the field at fault.
    """
    if not isinstance(entry, dict):
        raise UserError(f"an entry of {where} is not an object; fix the index")
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise UserError(f"{where} lists a model named {name!r}, which is not a plain folder name; fix the index")
    if not isinstance(entry.get("sha256"), str) or not _SHA256.match(entry["sha256"]):
        raise UserError(f"model {name!r} in {where} has no valid SHA-256 (64 hex digits); fix the index")
    if not isinstance(entry.get("size"), int) or entry["size"] <= 0:
        raise UserError(f"model {name!r} in {where} has no valid size in bytes; fix the index")
    if not isinstance(entry.get("url"), str):
        raise UserError(f"model {name!r} in {where} has no URL; fix the index")
    check_url(entry["url"], f"the URL of model {name!r} in {where}:")
    return entry


def find_entry(index: dict, name: str) -> dict:
    """The index entry of a model name.

    Raises:
        UserError: the name is not in the index, listing those that are.
    """
    for entry in index["models"]:
        if entry["name"] == name:
            return entry
    names = ", ".join(e["name"] for e in index["models"]) or "none"
    raise UserError(f"model {name!r} is not in the model index {index['location']}; available: {names}")


def available(index: dict) -> list[dict]:
    """Index entries with whether (and which version) each model is installed already."""
    out = []
    for entry in index["models"]:
        folder = user_model_dir() / entry["name"]
        installed = None
        if (folder / CARD_FILE).is_file():
            try:
                installed = read_card(folder).get("version")
            except UserError:
                installed = "damaged"
        out.append({**entry, "installed": installed, "bundled": (BUNDLED_DIR / entry["name"] / CARD_FILE).is_file()})
    return out


# --- download ----------------------------------------------------------------------------------------------------
def _reason(err: BaseException) -> str:
    reason = getattr(err, "reason", None) or getattr(err, "strerror", None) or err
    return str(reason)


def download(url: str, part: Path, size: int, progress: Progress | None = None) -> Path:
    """Fetch ``url`` into ``part``, resuming what an earlier attempt left there (HTTP range request).

    Args:
        url: http(s) or file URL, or a local path.
        part: the partial file; bytes already in it are kept when the server honours the range.
        size: the expected size in bytes; a source that sends more is refused at once.
        progress: called with (bytes done, bytes total) while copying.

    Returns:
        ``part``, now complete (not yet verified).

    Raises:
        UserError: unreachable source or more bytes than expected.
    """
    check_url(url, "model URL")
    part.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if part.exists() else 0
    if have > size:
        part.unlink()
        have = 0
    try:
        local = _local_path(url)
        if local is not None:
            source, append = open(local, "rb"), have > 0
            source.seek(have)
        else:
            request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
            source = urllib.request.urlopen(request, timeout=TIMEOUT_S)  # nosec B310: scheme checked
            append = have > 0 and getattr(source, "status", 200) == 206  # a 200 answer restarts from zero
            _check_served_size(source, size, have if append else 0, url, part)
        with source, open(part, "ab" if append else "wb") as sink:
            done = have if append else 0
            while chunk := source.read(CHUNK):
                done += len(chunk)
                if done > size:
                    raise UserError(f"{url} sends more than the {size} bytes the model index gives; refused "
                                    "(wrong file or tampered with); the previous model is kept")
                sink.write(chunk)
                if progress:
                    progress(done, size)
        if done < size and local is None:
            raise UserError(f"the download of {url} stopped at {done / 1e6:.1f} of {size / 1e6:.1f} MB (connection "
                            "lost); run the install again: it resumes where it stopped")
    except urllib.error.HTTPError as err:
        if err.code == 416:  # range beyond the end: the part file is complete or stale; verification decides
            return part
        raise UserError(f"cannot download {url}: HTTP {err.code} {err.reason}; check the model index, or install "
                        "the model from a file ({param:source})") from None
    except (OSError, urllib.error.URLError, http.client.HTTPException) as err:
        raise UserError(f"cannot download {url} ({_reason(err)}); check the network and try again (the download "
                        "resumes), or install the model from a file ({param:source})") from None
    return part


def _check_served_size(answer: Any, size: int, offset: int, url: str, part: Path) -> None:
    """The server's own idea of the file size must be the index's, else it serves another (or a cut) file."""
    total = None
    content_range = answer.headers.get("Content-Range", "")
    if "/" in content_range and content_range.rsplit("/", 1)[1].isdigit():
        total = int(content_range.rsplit("/", 1)[1])
    elif answer.headers.get("Content-Length", "").isdigit():
        total = offset + int(answer.headers["Content-Length"])
    if total is not None and total != size:
        answer.close()
        part.unlink(missing_ok=True)
        raise UserError(f"{url} serves {total} bytes but the model index says {size} (truncated or replaced); "
                        "nothing was installed and the previous model is kept; check the model index")


def verify_archive(path: Path, size: int, sha256: str, source: str) -> None:
    """Size and SHA-256 of a downloaded archive; a mismatch deletes it.

    Raises:
        UserError: truncated, too long or wrong checksum, saying the previous model is kept.
    """
    actual = path.stat().st_size
    if actual != size:
        path.unlink(missing_ok=True)
        raise UserError(f"the model archive from {source} has {actual} bytes but the index says {size} (truncated "
                        "or replaced); nothing was installed and the previous model is kept: try again")
    if sha256_file(path) != sha256:
        path.unlink(missing_ok=True)
        raise UserError(f"the model archive from {source} does not match its SHA-256 in the model index "
                        "(corrupted or tampered with); nothing was installed and the previous model is kept")


# --- unpack and install ------------------------------------------------------------------------------------------
def _member_name(info: zipfile.ZipInfo, name: str, archive: str) -> str | None:
    """The plain file name of an archive member ``<name>/<file>``; None for the folder entry itself.

    Raises:
        UserError: anything else (sub-folders, ``..``, absolute paths, backslashes, links).
    """
    parts = PurePosixPath(info.filename).parts
    if info.filename.rstrip("/") == name and info.is_dir():
        return None
    link = stat.S_ISLNK(info.external_attr >> 16)
    if (len(parts) != 2 or parts[0] != name or not _NAME.match(parts[1]) or "\\" in info.filename or link
            or info.is_dir()):
        raise UserError(f"model archive {archive} holds {info.filename!r}, which is not a plain file inside the "
                        f"folder {name}/; refused (the archive is damaged or malicious)")
    return parts[1]


def unpack(archive: Path, name: str, staging: Path, shown: str | None = None) -> None:
    """Unpack ``<name>/<file>`` members into ``staging`` after checking every member name and the total size.

    ``shown`` is how messages name the archive (the file or URL the user gave, not the download's temporary).

    Raises:
        UserError: bad member, or more uncompressed bytes than :data:`MAX_RATIO` times the archive.
    """
    label = shown or str(archive)
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [(info, _member_name(info, name, label)) for info in zf.infolist()]
            if sum(i.file_size for i, _ in members) > MAX_RATIO * max(archive.stat().st_size, 1):
                raise UserError(f"model archive {label} unpacks to more than {MAX_RATIO}x its size; refused")
            staging.mkdir(parents=True)
            for info, plain in members:
                if plain is not None:  # the same confinement rule as every reader of model files
                    with zf.open(info) as src, open(confined_file(staging, plain), "xb") as dst:
                        shutil.copyfileobj(src, dst, CHUNK)
    except zipfile.BadZipFile:
        raise UserError(f"{label} is not a zip archive of a model folder; refused") from None


def install_model(name: str, source: str | None = None, index: str | None = None,
                  progress: Progress | None = None) -> dict:
    """Download (or copy), verify and install one model into the user's model folder.

    Args:
        name: the model's name (its folder name).
        source: a file path or http(s)/file URL of the archive; default: the index entry's URL. With a source and
            a name the index knows, the archive is still checked against the index's size and SHA-256; a name the
            index does not know is checked against the card inside the archive only.
        index: the index location (see :func:`index_location`).
        progress: called with (bytes done, bytes total).

    Returns:
        ``{"name", "version", "path", "sha256", "bytes", "verified_against", "replaced"}``.

    Raises:
        UserError: for every refused input; the previously installed model is then unchanged.
    """
    if not _NAME.match(name):
        raise UserError(f"{name!r} is not a model name (letters, digits, '.', '_' and '-'); check the name")
    if (BUNDLED_DIR / name / CARD_FILE).is_file():
        raise UserError(f"model {name!r} is bundled with the plugin already; nothing to install")
    entry = _entry_for(name, source, index)
    url = source or entry["url"]
    check_url(url, "model source")
    root = user_model_dir()
    downloads = root / DOWNLOADS
    _check_space(root, entry["size"] if entry else _source_size(url))
    part = downloads / f"{name}-{entry['version'] if entry else 'file'}.zip.part"
    if entry:
        download(url, part, entry["size"], progress)
        verify_archive(part, entry["size"], entry["sha256"], url)
        against = "index"
    else:
        part.unlink(missing_ok=True)
        download(url, part, _source_size(url), progress)
        against = "card"
    digest = sha256_file(part)
    staging = downloads / f"{name}.installing"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        unpack(part, name, staging, shown=url)
        card = load_card(staging, verify=True)  # every file against the card's sizes and SHA-256s
        if card.get("name") != name:
            raise UserError(f"the archive for {name!r} holds model {card.get('name')!r}; refused")
        replaced = _swap(staging, root / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    size = part.stat().st_size
    part.unlink(missing_ok=True)
    return {"name": name, "version": card.get("version"), "path": str(root / name), "sha256": digest,
            "bytes": size, "verified_against": against, "replaced": replaced}


def _entry_for(name: str, source: str | None, index: str | None) -> dict | None:
    """The index entry (required without a source; optional with one, then used when it knows the name)."""
    if source is None:
        return find_entry(load_index(index), name)
    try:
        loaded = load_index(index)
    except UserError:
        return None  # offline install from a file: the card's checksums still protect it
    return next((e for e in loaded["models"] if e["name"] == name), None)


def _source_size(url: str) -> int:
    local = _local_path(url)
    if local is None:
        raise UserError(f"model {url!r}: an http(s) source needs an index entry that gives its size and SHA-256; "
                        "download the file and install it from there ({param:source})")
    if not local.is_file():
        raise UserError(f"model archive {local} does not exist; give the path of a model .zip file")
    return local.stat().st_size


def _check_space(root: Path, size: int) -> None:
    """The archive and its unpacked copy must fit, checked before downloading."""
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot create the model folder {root} ({_reason(err)}); set S1RM_MODEL_DIR to a "
                        "writable folder") from None
    free = shutil.disk_usage(root).free
    need = 2 * size + (16 << 20)
    if free < need:
        raise UserError(f"not enough disk space in {root} for this model: needs {need / 1e6:.0f} MB, "
                        f"{free / 1e6:.0f} MB are free; free some space first")


def _swap(staging: Path, final: Path) -> bool:
    """Move the staged folder to its final name; an existing version is moved aside first and removed last."""
    old = final.with_name(f".{final.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    replaced = final.exists()
    if replaced:
        final.rename(old)
    try:
        staging.rename(final)
    except OSError:
        if replaced:
            old.rename(final)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return replaced


# --- building archives and the index (used by scripts/package.sh) ------------------------------------------------
def build_archive(folder: Path, out_dir: Path) -> Path:
    """A deterministic zip of one model folder (fixed dates and order), so its SHA-256 is reproducible."""
    folder = Path(folder)
    card = read_card(folder)
    target = Path(out_dir) / f"{folder.name}-{card.get('version', '0')}.zip"
    target.parent.mkdir(parents=True, exist_ok=True)
    names = sorted({CARD_FILE, *card.get("files", {})})
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for file_name in names:
            info = zipfile.ZipInfo(f"{folder.name}/{file_name}", ZIP_DATE)
            info.external_attr = (0o644 | stat.S_IFREG) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, (folder / file_name).read_bytes())
    return target


def index_entry(folder: Path, archive: Path, url: str) -> dict:
    """The index entry of one model: name, version, size, SHA-256, URL, licence and a card summary."""
    card = read_card(folder)
    metrics = card.get("metrics", {})
    return {"name": folder.name, "version": card.get("version"), "size": archive.stat().st_size,
            "sha256": sha256_file(archive), "url": url, "licence": card.get("licence", "GPL-2.0-or-later"),
            "card_summary": {"arch": card.get("arch"), "fusion": card.get("fusion"),
                             "polarizations": card.get("inputs", {}).get("polarizations"),
                             "steps": card.get("inputs", {}).get("steps"),
                             "description": card.get("description", ""),
                             "f1": {k: round(v["f1"], 3) for k, v in metrics.items()
                                    if isinstance(v, dict) and isinstance(v.get("f1"), (int, float))}}}


def write_index(folders: Iterable[Path], out_dir: Path, base_url: str) -> dict:
    """Archive every folder into ``out_dir`` and return the index whose URLs are ``base_url/<archive name>``."""
    entries = []
    for folder in folders:
        archive = build_archive(folder, out_dir)
        entries.append(index_entry(folder, archive, f"{base_url.rstrip('/')}/{archive.name}"))
    return {"format": INDEX_FORMAT, "models": entries}
