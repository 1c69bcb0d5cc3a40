"""Plugin settings kept in QgsSettings, and where the plugin's files and its backend environment live.

The backend runs in its own interpreter (a separate virtual environment), so QGIS's Python is never
modified. That environment lives in a per-user data folder outside the plugin folder
(:func:`backend_setup.default_env_dir`), so upgrading or reinstalling the plugin keeps it.
"""

from __future__ import annotations

from pathlib import Path

from qgis.core import QgsSettings

from .backend_setup import default_env_dir, env_python, env_state
from .backend_setup import plugin_version as _metadata_version

PLUGIN_DIR = Path(__file__).resolve().parent.parent
SETTINGS_PREFIX = "s1ricemapper"
BACKEND_PYTHON_KEY = f"{SETTINGS_PREFIX}/backend_python"
LAST_OUTPUT_DIR_KEY = f"{SETTINGS_PREFIX}/last_output_dir"
ENV_DIR_KEY = "env_dir"
WHEELHOUSE_KEY = "wheelhouse"
MODEL_INDEX_KEY = "model_index"


def environment_dir() -> Path:
    """The backend environment's folder: the 'Environment folder' setting, else the per-user default."""
    value = get_value(ENV_DIR_KEY)
    return Path(value) if value else default_env_dir()


def default_backend_python(plugin_dir: Path = PLUGIN_DIR) -> Path:
    """The interpreter of the environment the set-up creates; a developer checkout's ``.venv`` when only it exists.

    Args:
        plugin_dir: the plugin folder (a git checkout set up with ``make setup`` has ``.venv`` there).
    """
    managed = env_python(environment_dir())
    legacy = env_python(plugin_dir / ".venv")
    return legacy if not managed.exists() and legacy.exists() else managed


def backend_python() -> Path:
    """The configured backend interpreter, or the default one when nothing is set."""
    value = QgsSettings().value(BACKEND_PYTHON_KEY, "", type=str)
    return Path(value) if value else default_backend_python()


def set_backend_python(path: str | Path | None) -> None:
    """Store the interpreter path; an empty value goes back to the default."""
    settings = QgsSettings()
    if path:
        settings.setValue(BACKEND_PYTHON_KEY, str(path))
    else:
        settings.remove(BACKEND_PYTHON_KEY)


def backend_state() -> dict:
    """State of the managed environment (``ready``, ``outdated``, ``missing``, ``broken``, ...), from files only.

    Returns:
        :func:`backend_setup.env_state` of :func:`environment_dir`; when the user points at another interpreter
        that exists, ``{"state": "custom", ...}`` since its contents are not the set-up's to judge.
    """
    chosen = backend_python()
    state = env_state(environment_dir())
    if chosen != env_python(environment_dir()) and chosen.exists():
        return {**state, "state": "custom", "python": str(chosen),
                "message": f"The backend runs in {chosen} (chosen in the Settings)."}
    return state


def get_value(key: str, default: str = "") -> str:
    return QgsSettings().value(f"{SETTINGS_PREFIX}/{key}", default, type=str)


def set_value(key: str, value: str) -> None:
    QgsSettings().setValue(f"{SETTINGS_PREFIX}/{key}", value)


def plugin_version() -> str:
    """The version in metadata.txt, for diagnostics reports."""
    return _metadata_version(PLUGIN_DIR)
