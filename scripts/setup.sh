#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian 12 / Ubuntu machine (run as root or with sudo).
#   scripts/setup.sh system   apt packages: QGIS, its Python bindings, Xvfb, python3-venv
#   scripts/setup.sh backend  .venv       : the developer backend environment (lean set + torch CPU + test tools)
#   scripts/setup.sh qgistest .venv-qgis  : QGIS's Python plus pytest-qgis, without touching the system Python
#   scripts/setup.sh qt6scanner           : QGIS's pyqt5_to_pyqt6 scanner into ~/.cache (for its test; optional)
# Users do not run this: the plugin sets up its backend with plugin/backend_setup.py (docs/install.md).
# Each step does nothing when what it installs is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

need_sudo() { if [ "$(id -u)" -ne 0 ]; then echo sudo; fi; }

system() {
  local missing=()
  for pkg in qgis python3-qgis qgis-providers xvfb python3-venv; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -eq 0 ]; then echo "[setup] system packages present"; return; fi
  echo "[setup] installing system packages: ${missing[*]} (about 2 minutes)"
  local s; s=$(need_sudo)
  $s apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $s apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

requirements_digest() {  # $1 requirements file: itself and every file it includes with -r, in one text
  local req=$1 dir; dir=$(dirname "$1")
  cat "$req"
  { grep -E '^-r ' "$req" || true; } | while read -r _ inc; do cat "$dir/$inc"; done
}

stamp_ok() {  # $1 venv dir, $2 requirements file: up to date when the stamp matches the requirements
  [ -x "$1/bin/python" ] && [ -f "$1/.requirements.stamp" ] && cmp -s <(requirements_digest "$2") "$1/.requirements.stamp"
}

backend() {
  local venv="$ROOT/.venv" req="$ROOT/requirements/backend.txt"
  if stamp_ok "$venv" "$req"; then echo "[setup] backend .venv up to date"; return; fi
  echo "[setup] creating backend environment $venv (a few minutes)"
  local py=${BACKEND_PYTHON:-python3}
  [ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
  requirements_digest "$req" > "$venv/.requirements.stamp"
}

qgistest() {
  local venv="$ROOT/.venv-qgis" req="$ROOT/requirements/qgis-test.txt"
  if stamp_ok "$venv" "$req"; then echo "[setup] .venv-qgis up to date"; return; fi
  echo "[setup] creating $venv (QGIS's Python with pytest-qgis)"
  [ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv --system-site-packages "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
  requirements_digest "$req" > "$venv/.requirements.stamp"
}

qt6scanner() {  # QGIS's pyqt5_to_pyqt6 scanner for tests/plugin/test_qt6_readiness.py; QGIS's code, never committed
  local dir="${S1RM_QT6_SCANNER:-$HOME/.cache/s1ricemapper/pyqt5_to_pyqt6}"
  if [ -f "$dir/pyqt5_to_pyqt6.py" ]; then echo "[setup] Qt6 scanner present in $dir"; return; fi
  mkdir -p "$dir"
  /usr/bin/python3 - "$dir" <<'PYEOF' || echo "[setup] could not fetch the Qt6 scanner (no access to github.com?); its test is skipped"
import sys, urllib.request
url = "https://raw.githubusercontent.com/qgis/QGIS/master/scripts/pyqt5_to_pyqt6/pyqt5_to_pyqt6.py"
with urllib.request.urlopen(url, timeout=60) as answer:
    open(sys.argv[1] + "/pyqt5_to_pyqt6.py", "wb").write(answer.read())
print("[setup] Qt6 scanner in", sys.argv[1])
PYEOF
}

for step in "${@:-system backend qgistest}"; do
  for s in $step; do "$s"; done
done
