"""Messages that name parameters in each front end's own terms.

A backend message names a parameter with a token ``{param:KEY}``. The CLI renders it as the flag
(``--season``), Processing as its parameter name, the dialog as the field label. A QGIS user never sees a
CLI flag.
"""

from __future__ import annotations

import re
from typing import Callable

_TOKEN = re.compile(r"\{param:([a-z0-9_]+)\}")


def param_token(key: str) -> str:
    """The token that stands for parameter ``key`` inside a message template."""
    return "{param:" + key + "}"


def render(template: str, name_of: Callable[[str], str]) -> str:
    """Replace every ``{param:KEY}`` token by ``name_of(KEY)``."""
    return _TOKEN.sub(lambda m: name_of(m.group(1)), template)


def params_in(template: str) -> list[str]:
    """The parameter keys a template names, in order."""
    return _TOKEN.findall(template)
