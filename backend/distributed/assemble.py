"""Assemble stored blocks into rice.tif / probability.tif / heatmap.tif, strip by strip.

Memory holds one 256-row strip of the scene's width per channel (the block files are memory-mapped), so
assembly does not grow with the scene; writing goes through the single-process
:class:`~backend.inference.outputs.MapWriter` (threshold, nodata, COG tiling, overviews, styles).
"""

from __future__ import annotations

import numpy as np

from backend.distributed.blocks import Block, block_rows
from backend.distributed.store import BlockStore
from backend.inference.outputs import MapWriter
from backend.progress import Reporter
from backend.writers.geotiff import BLOCK


def assemble(store: BlockStore, blocks: list[Block], writer: MapWriter, with_heatmap: bool,
             reporter: Reporter) -> None:
    """Feed every block's core to ``writer`` in scene order (top to bottom, full width).

    Args:
        store: holds every block of ``blocks``.
        blocks: the run's blocks, row-major.
        writer: the open output writer.
        with_heatmap: whether the blocks carry a heat-map channel.
        reporter: one step per row of blocks.
    """
    rows = list(block_rows(blocks))
    reporter.stage("assemble", len(rows), f"{len(blocks)} blocks into the outputs")
    for row in rows:
        arrays = [store.get(block.key) for block in row]
        for top in range(0, row[0].row1 - row[0].row0, BLOCK):
            strip = np.concatenate([a[:, top:top + BLOCK] for a in arrays], axis=2)
            writer.write(strip[0], strip[2] if with_heatmap else None, strip[1] > 0.5)
        del arrays
        reporter.advance(1)
