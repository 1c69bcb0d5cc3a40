"""The "S1 Rice Mapper" Processing provider: maprice, finetune, evaluate, riceareastats, seasons."""

from __future__ import annotations

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from ..settings import plugin_version
from .area_stats import RiceAreaStatsAlgorithm
from .base import ICON
from .evaluate import EvaluateAlgorithm
from .fetch import FetchAlgorithm
from .finetune import FineTuneAlgorithm
from .map_rice import MapRiceAlgorithm
from .seasons import SeasonsAlgorithm

ALGORITHMS = (MapRiceAlgorithm, FineTuneAlgorithm, EvaluateAlgorithm, RiceAreaStatsAlgorithm, SeasonsAlgorithm,
              FetchAlgorithm)


class RiceMapperProvider(QgsProcessingProvider):
    """Registered by the plugin's ``initProcessing`` (QGIS desktop and qgis_process alike)."""

    def id(self) -> str:
        return "s1ricemapper"

    def name(self) -> str:
        return "S1 Rice Mapper"

    def longName(self) -> str:  # noqa: N802
        return f"S1 Rice Mapper {plugin_version()}"

    def icon(self) -> QIcon:
        return QIcon(str(ICON))

    def versionInfo(self) -> str:  # noqa: N802
        return plugin_version()

    def loadAlgorithms(self) -> None:  # noqa: N802
        for algorithm in ALGORITHMS:
            self.addAlgorithm(algorithm())
