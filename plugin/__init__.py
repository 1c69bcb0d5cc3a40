"""QGIS side of S1 Rice Mapper: UI, layers, styling and Processing.

Runs in QGIS's own Python; never imports torch, onnxruntime or rasterio. Heavy work is delegated
to ``python -m backend`` in the backend interpreter, spoken to over JSON lines.
"""
