"""Physically grounded synthetic Sentinel-1 VV/VH rice scenes (see ``docs/synthetic.md``).

``generate_scene(region, size, seed, ...) -> Scene`` is the in-memory API used for pretraining;
``python -m backend synth`` writes a scene to disk in any of the three input layouts.
"""

from backend.synthetic.landcover import LANDCOVER_NAMES
from backend.synthetic.regions import REGIONS
from backend.synthetic.scene import Field, Scene, generate_scene

__all__ = ["LANDCOVER_NAMES", "REGIONS", "Field", "Scene", "generate_scene"]
