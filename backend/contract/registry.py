"""All verbs of the contract, discovered from :mod:`backend.contract.verbs` (one module per verb, ``VERB``)."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from .. import __version__
from . import verbs as _verbs_package
from .schema import COMMON_EVENTS, EXIT_CODES, Verb


def _discover() -> dict[str, Verb]:
    found = {}
    for info in pkgutil.iter_modules(_verbs_package.__path__):
        module = importlib.import_module(f"{_verbs_package.__name__}.{info.name}")
        v = getattr(module, "VERB", None)
        if isinstance(v, Verb):
            found[v.name] = v
    return dict(sorted(found.items()))


VERBS: dict[str, Verb] = _discover()


def verb(name: str) -> Verb:
    """The contract of verb ``name``.

    Raises:
        KeyError: no such verb.
    """
    return VERBS[name]


def describe() -> dict[str, Any]:
    """The whole contract as plain JSON-able data (``python -m backend describe``)."""
    return {"version": __version__, "exit_codes": dict(EXIT_CODES),
            "common_events": [e.__dict__ for e in COMMON_EVENTS],
            "verbs": {name: v.to_json() for name, v in VERBS.items()}}
