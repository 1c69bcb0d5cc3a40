"""Models on demand: `models --install` against a real HTTP server on 127.0.0.1 that honours range requests.

Covers progress, resume after a cut connection, SHA-256 and size checks before anything reads the archive, the
previous model kept on every failure, non-http(s)/file URLs refused, an unreachable index, install from a file,
and archives whose members try to leave the model folder."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from backend.modelstore.card import sha256_file
from backend.modelstore.install import INDEX_FORMAT, build_archive, index_entry

REPO = Path(__file__).resolve().parents[2]
NAME = "test-unet"


class RangeHandler(SimpleHTTPRequestHandler):
    """Serves the server's folder; honours ``Range: bytes=N-``; can cut the first answer halfway."""

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        server = self.server
        path = Path(server.folder, self.path.lstrip("/").split("?")[0])
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        header = self.headers.get("Range")
        server.ranges.append(header)
        start = int(header.split("=")[1].split("-")[0]) if header else 0
        if start >= len(data) and header:
            self.send_error(416)
            return
        self.send_response(206 if header else 200)
        if header:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        body = data[start:]
        if server.cut_next and path.suffix == ".zip":
            server.cut_next = False
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)


@pytest.fixture
def server(tmp_path):
    folder = tmp_path / "www"
    folder.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    httpd.folder, httpd.ranges, httpd.cut_next = folder, [], False
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _model_folder(root: Path, version: str) -> Path:
    """A copy of the bundled U-Net under another name and version (its files keep their checksums)."""
    folder = root / f"v{version}" / NAME
    shutil.copytree(REPO / "models" / "unet", folder, dirs_exist_ok=True)
    card = json.loads((folder / "card.json").read_text())
    card.update(name=NAME, version=version)
    (folder / "card.json").write_text(json.dumps(card))
    return folder


def _publish(server, tmp_path: Path, version: str = "1.0.0", **override) -> dict:
    """Archive the model into the server's folder and write index.json there; returns the entry."""
    folder = _model_folder(tmp_path / "src", version)
    archive = build_archive(folder, server.folder)
    entry = {**index_entry(folder, archive, f"{server.url}/{archive.name}"), **override}
    (server.folder / "index.json").write_text(json.dumps({"format": INDEX_FORMAT, "models": [entry]}))
    return entry


def _models(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    env = {**os.environ, "S1RM_MODEL_DIR": str(tmp_path / "user")}
    done = subprocess.run([sys.executable, "-m", "backend", "models", *args, "--progress", "json"], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=120)
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return done, events


def _error(events: list[dict]) -> str:
    return next(e["message"] for e in events if e["event"] == "error")


def test_install_from_the_index_with_progress_then_listed(server, tmp_path):
    entry = _publish(server, tmp_path)
    done, events = _models(tmp_path, "--available", "--index", f"{server.url}/index.json")
    assert done.returncode == 0, done.stderr
    listed = events[-1]["models"]
    assert [(m["name"], m["installed"]) for m in listed] == [(NAME, None)]
    done, events = _models(tmp_path, "--install", NAME, "--index", f"{server.url}/index.json")
    assert done.returncode == 0, done.stderr
    result = events[-1]
    assert result["sha256"] == entry["sha256"] and result["verified_against"] == "index"
    progress = [e for e in events if e["event"] == "progress" and e["stage"] == "download"]
    assert progress[-1]["done"] == progress[-1]["total"] == entry["size"] // 1024
    installed = Path(result["path"])
    assert sorted(p.name for p in installed.iterdir()) == ["card.json", "model.onnx", "weights.safetensors"]
    assert not (tmp_path / "user" / ".downloads" / f"{NAME}.installing").exists()
    done, events = _models(tmp_path, NAME, "--verify")
    assert done.returncode == 0 and events[-1]["card"]["version"] == "1.0.0"


def test_a_cut_download_resumes_with_a_range_request(server, tmp_path):
    entry = _publish(server, tmp_path)
    server.cut_next = True
    done, events = _models(tmp_path, "--install", NAME, "--index", f"{server.url}/index.json")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "stopped at" in _error(events) and "resumes" in _error(events)
    part = tmp_path / "user" / ".downloads" / f"{NAME}-1.0.0.zip.part"
    kept = part.stat().st_size
    assert 0 < kept < entry["size"]
    assert not (tmp_path / "user" / NAME).exists()
    done, events = _models(tmp_path, "--install", NAME, "--index", f"{server.url}/index.json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert events[-1]["sha256"] == entry["sha256"]
    assert server.ranges[-1] == f"bytes={kept}-"  # only the rest was asked for
    assert not part.exists()


def test_tampered_or_truncated_archive_refused_and_previous_model_kept(server, tmp_path):
    _publish(server, tmp_path, "1.0.0")
    done, _ = _models(tmp_path, "--install", NAME, "--index", f"{server.url}/index.json")
    assert done.returncode == 0, done.stderr
    before = sha256_file(tmp_path / "user" / NAME / "card.json")
    index = f"{server.url}/index.json"
    entry = _publish(server, tmp_path, "2.0.0")
    archive = server.folder / f"{NAME}-2.0.0.zip"
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte: same size, other checksum
    archive.write_bytes(bytes(data))
    done, events = _models(tmp_path, "--install", NAME, "--index", index)
    assert done.returncode == 2 and "does not match its SHA-256" in _error(events)
    assert "previous model is kept" in _error(events)
    _publish(server, tmp_path, "2.0.0", size=entry["size"] + 10)  # the server sends fewer bytes than listed
    done, events = _models(tmp_path, "--install", NAME, "--index", index)
    assert done.returncode == 2 and "truncated" in _error(events)
    assert sha256_file(tmp_path / "user" / NAME / "card.json") == before
    assert json.loads((tmp_path / "user" / NAME / "card.json").read_text())["version"] == "1.0.0"
    assert not list((tmp_path / "user" / ".downloads").glob("*.part"))


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/model.zip", "javascript:alert(1)", "smb://host/share/m.zip"])
def test_index_entry_with_another_scheme_is_refused(server, tmp_path, url):
    _publish(server, tmp_path, url=url)
    done, events = _models(tmp_path, "--install", NAME, "--index", f"{server.url}/index.json")
    assert done.returncode == 2 and "only http(s) and file URLs" in _error(events)
    assert not (tmp_path / "user" / NAME).exists()


def test_unreachable_index_says_so_and_offers_install_from_file(tmp_path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done, events = _models(tmp_path, "--install", NAME, "--index", f"http://127.0.0.1:{port}/index.json")
    assert done.returncode == 2 and "cannot be reached" in _error(events) and "--from" in _error(events)
    assert "Traceback" not in done.stderr


def test_install_from_a_file_offline_and_unsafe_archives_refused(server, tmp_path):
    folder = _model_folder(tmp_path / "src", "1.0.0")
    archive = build_archive(folder, tmp_path / "files")
    offline = f"http://127.0.0.1:{server.server_address[1]}/missing-index.json"
    done, events = _models(tmp_path, "--install", NAME, "--from", str(archive), "--index", offline)
    assert done.returncode == 0, done.stdout + done.stderr
    assert events[-1]["verified_against"] == "card"
    evil = tmp_path / "files" / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr(f"{NAME}/card.json", (folder / "card.json").read_text())
        zf.writestr("../escaped.txt", "x")
    done, events = _models(tmp_path, "--install", NAME, "--from", str(evil), "--index", offline)
    assert done.returncode == 2 and "not a plain file inside the folder" in _error(events)
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "user" / "escaped.txt").exists()
    assert json.loads((tmp_path / "user" / NAME / "card.json").read_text())["name"] == NAME  # still installed
