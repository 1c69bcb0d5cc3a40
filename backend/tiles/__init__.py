"""Tiled, streaming model application: the tile grid and its blending, the streaming loop, the engines."""
