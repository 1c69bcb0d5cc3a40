"""Plugin tests run in QGIS's own Python with pytest-qgis (a real, headless QGIS).

The repository root is the plugin folder. Whatever the clone is called, it is imported as the
package ``s1ricemapper`` (the installed plugin's folder name) through a symlink in a temp folder.
"""

import importlib
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[2]
PACKAGE = "s1ricemapper"

_link_dir = Path(tempfile.mkdtemp(prefix="s1rm-plugin-"))
(_link_dir / PACKAGE).symlink_to(REPO, target_is_directory=True)
sys.path.insert(0, str(_link_dir))
sys.path.insert(0, "/usr/share/qgis/python/plugins")  # QGIS's `processing` package


def plugin_package():
    """The plugin imported as QGIS would import it."""
    return importlib.import_module(PACKAGE)
