"""``describe``: print this contract as JSON."""

from __future__ import annotations

from ..schema import Verb

VERB = Verb(name="describe", help="print the contract (every verb's options, outputs, results, events, exit codes) "
            "as JSON", options=(), result_keys=("version", "exit_codes", "common_events", "verbs"))
