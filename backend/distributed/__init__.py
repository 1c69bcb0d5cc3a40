"""Province- and country-scale mapping on Dask (issue 17): ``map --cluster ADDRESS|local[:N]``.

The scene is split into blocks (:mod:`.blocks`): a rectangle of output pixels plus every tile of the
single-process tile grid that touches it, so each block blends exactly the tiles the single-process run
blends for those pixels, in the same order. Each block is one ``dask.distributed`` task run by a worker
whose model is loaded once (:mod:`.worker`). The client stores finished blocks and a manifest
(:mod:`.store`), so a rerun skips them, then assembles the usual outputs (:mod:`.assemble`).
:mod:`.zonal` sums rice area per administrative unit block by block; :mod:`.benchmark` measures it all.
"""

from __future__ import annotations

import importlib.util

from backend.errors import UserError

DASK_PINS = "dask[distributed]==2026.8.0"


def require_dask() -> None:
    """Stop with a clear message when Dask is missing (the lean mapping environment has no Dask).

    Raises:
        UserError: ``distributed`` cannot be imported in this environment.
    """
    if importlib.util.find_spec("distributed") is None:
        raise UserError(f"{{param:cluster}} needs Dask in the backend environment: install {DASK_PINS} "
                        "(requirements/backend.txt, block 'distributed (issue 17)') here and on every worker, "
                        "or map without {param:cluster}", param="cluster")
