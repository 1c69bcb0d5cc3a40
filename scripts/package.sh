#!/usr/bin/env bash
# `make package`: the installable plugin zip, dist/s1ricemapper-<version>.zip, top folder s1ricemapper/.
# What goes in is listed in pb_tool.cfg ([files] and [exclude]); nothing else is read, so virtual
# environments, caches, tests, test data, demo outputs and .git never end up in the zip.
set -euo pipefail
cd "$(dirname "$0")/.."
/usr/bin/python3 - "$@" <<'PYEOF'
"""Build the plugin zip from pb_tool.cfg (standard library only, so it runs before any set-up)."""
import configparser
import fnmatch
import os
import stat
import sys
import zipfile
from pathlib import Path

root = Path.cwd()
config = configparser.ConfigParser()
config.read(root / "pb_tool.cfg")
name = config["plugin"]["name"]
files = config["files"]
excluded = config["exclude"]["patterns"].split()
version = next(line.split("=", 1)[1].strip() for line in (root / "metadata.txt").read_text().splitlines()
               if line.startswith("version="))


def skipped(relative: Path) -> bool:
    return any(part.startswith(".") or any(fnmatch.fnmatch(part, p) for p in excluded) for part in relative.parts)


def members():
    for entry in files["python_files"].split() + files["extras"].split():
        path = root / entry
        if path.is_file():
            yield path
    for folder in files["extra_dirs"].split():
        for current, dirs, names in os.walk(root / folder):
            dirs[:] = sorted(d for d in dirs if not skipped(Path(current, d).relative_to(root)))
            for file_name in sorted(names):
                path = Path(current, file_name)
                if not path.is_symlink() and not skipped(path.relative_to(root)):
                    yield path


dist = root / "dist"
dist.mkdir(exist_ok=True)
target = dist / f"{name}-{version}.zip"
partial = dist / f".{target.name}.partial"
count = 0
with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
    for path in members():
        info = zipfile.ZipInfo.from_file(path, f"{name}/{path.relative_to(root).as_posix()}")
        info.external_attr = (stat.S_IMODE(path.stat().st_mode) | stat.S_IFREG) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, path.read_bytes())
        count += 1
partial.replace(target)
print(f"[package] {target} ({count} files, {target.stat().st_size / 1e6:.1f} MB)")
PYEOF
