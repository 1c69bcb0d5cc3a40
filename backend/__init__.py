"""S1 Rice Mapper backend: reading, compositing, models, tiled inference, training and evaluation.

Runs in the project's own virtual environment (``.venv``) and never imports QGIS. Every feature is a
CLI verb (``python -m backend <verb>``) so the QGIS plugin, Processing and batch users share one path.
"""

__version__ = "0.1.0"
