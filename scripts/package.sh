#!/usr/bin/env bash
# `make package`: the installable plugin zip, dist/s1ricemapper-<version>.zip, top folder s1ricemapper/.
# What goes in is listed in pb_tool.cfg ([files] and [exclude]); nothing else is read, so virtual
# environments, caches, tests, test data, demo outputs and .git never end up in the zip. Only the model
# folders named in `bundled_models` go in; the others are listed in models/index.json (downloaded on demand).
# Each build also writes those models' archives to dist/models/ (deterministic zips, so their SHA-256 only
# changes with the model files) and puts the matching index into the zip: upload dist/models/*.zip to
# `models_base_url` (pb_tool.cfg) with each release.
#   scripts/package.sh                 build dist/models/*.zip and the plugin zip
#   scripts/package.sh --model-index   also rewrite the repository's models/index.json (for git checkouts)
set -euo pipefail
cd "$(dirname "$0")/.."
/usr/bin/python3 - "$@" <<'PYEOF'
"""Build the plugin zip from pb_tool.cfg (standard library only, so it runs before any set-up)."""
import configparser
import fnmatch
import json
import os
import stat
import sys
import zipfile
from pathlib import Path

root = Path.cwd()
sys.path.insert(0, str(root))
sys.dont_write_bytecode = True
from backend.modelstore.install import INDEX_FILE, write_index  # noqa: E402 (standard library only)

config = configparser.ConfigParser()
config.read(root / "pb_tool.cfg")
name = config["plugin"]["name"]
files = config["files"]
excluded = config["exclude"]["patterns"].split()
bundled = set(files["bundled_models"].split())
version = next(line.split("=", 1)[1].strip() for line in (root / "metadata.txt").read_text().splitlines()
               if line.startswith("version="))
models = root / "models"
on_demand = sorted(d for d in models.iterdir() if d.is_dir() and (d / "card.json").is_file() and d.name not in bundled)


index = write_index(on_demand, root / "dist" / "models", files["models_base_url"])
index_text = json.dumps(index, indent=1) + "\n"
if "--model-index" in sys.argv[1:]:
    (models / INDEX_FILE).write_text(index_text, encoding="utf-8")
    print(f"[package] models/{INDEX_FILE} rewritten")
elif not (models / INDEX_FILE).is_file() or (models / INDEX_FILE).read_text(encoding="utf-8") != index_text:
    print(f"[package] note: models/{INDEX_FILE} differs from the model folders; the zip gets the fresh index "
          "(`scripts/package.sh --model-index` updates the repository's copy)", file=sys.stderr)


def skipped(relative: Path) -> bool:
    if relative.parts[0] == "models" and len(relative.parts) > 1 and (models / relative.parts[1]).is_dir():
        if relative.parts[1] not in bundled:
            return True
    if relative.as_posix() == f"models/{INDEX_FILE}":
        return True  # written fresh below
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
with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
    for path in members():
        info = zipfile.ZipInfo.from_file(path, f"{name}/{path.relative_to(root).as_posix()}")
        info.external_attr = (stat.S_IMODE(path.stat().st_mode) | stat.S_IFREG) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, path.read_bytes())
        count += 1
    archive.writestr(zipfile.ZipInfo(f"{name}/models/{INDEX_FILE}", date_time=(2026, 1, 1, 0, 0, 0)), index_text,
                      compress_type=zipfile.ZIP_DEFLATED)
    count += 1
partial.replace(target)
print(f"[package] {target} ({count} files, {target.stat().st_size / 1e6:.1f} MB)")
PYEOF
