"""The one contract between the QGIS plugin and the backend, in pure standard-library Python.

Every CLI verb is described here once: its options (key, flag, type, range, default, help), the files it
writes, the keys of its result and the progress events it emits, and the exit codes. The backend builds its
argparse parsers and validates values from it; the plugin imports the same package (it ships inside the
plugin folder) to build Processing parameters and dialog defaults. ``python -m backend describe`` prints it
as JSON for any other front end.

Why a stdlib module rather than only a ``describe`` subprocess: Processing algorithms are created when QGIS
loads the provider, before any backend environment may exist (a fresh install), and QGIS's Python must not
wait on a subprocess at start-up. A module both interpreters import gives the same answer with no process.
This package therefore imports nothing outside the standard library, and imports its siblings relatively,
because inside QGIS the backend is the subpackage ``<plugin folder>.backend``, not a top-level ``backend``
(tests/backend/test_contract.py).
"""

from .messages import param_token, render
from .registry import VERBS, describe, verb
from .schema import EXIT_CODES, Event, Option, Verb

__all__ = ["EXIT_CODES", "Event", "Option", "VERBS", "Verb", "describe", "param_token", "render", "verb"]
