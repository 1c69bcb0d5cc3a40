"""Render the result-map screenshots for docs/plugin.md from a real backend run (not a test).

Usage (QGIS's Python): ``.venv-qgis/bin/python tests/plugin/make_doc_screenshots.py SCENE_DIR RUN_DIR OUT_DIR``
where SCENE_DIR holds VH.tif from ``backend synth`` and RUN_DIR the outputs of ``backend map`` and
``backend evaluate``. The layers are loaded and styled by the plugin's own ``load_results``.
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).parent))

import conftest  # noqa: E402  (sets up the package import)
from qgis.core import (  # noqa: E402
    QgsApplication,
    QgsContrastEnhancement,
    QgsMultiBandColorRenderer,
    QgsProject,
    QgsRasterLayer,
    QgsRasterMinMaxOrigin,
)


def main(scene: Path, run: Path, out: Path) -> None:
    app = QgsApplication([], False)
    app.initQgis()
    conftest.plugin_package()
    from s1ricemapper.plugin.results import load_results

    out.mkdir(parents=True, exist_ok=True)
    _group, layers = load_results(run, "Rice map")
    backdrop = QgsRasterLayer(str(scene / "VH.tif"), "VH")
    backdrop.setRenderer(QgsMultiBandColorRenderer(backdrop.dataProvider(), 20, 30, 40))  # VH on three dates
    backdrop.setContrastEnhancement(QgsContrastEnhancement.StretchToMinimumMaximum,
                                    QgsRasterMinMaxOrigin.CumulativeCut)
    conftest.render_map([layers["rice"], backdrop], out / "map_rice.png")
    conftest.render_map([layers["probability"]], out / "map_probability.png")
    if "error" in layers:
        conftest.render_map([layers["error"]], out / "map_error.png")
    QgsProject.instance().clear()
    app.exitQgis()


if __name__ == "__main__":
    main(*(Path(a) for a in sys.argv[1:4]))
