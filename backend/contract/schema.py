"""Typed description of a verb: options, outputs, result keys, events and exit codes."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..errors import EXIT_CANCELLED, EXIT_INTERNAL, EXIT_OK, EXIT_USER_ERROR

EXIT_CODES = {"ok": EXIT_OK, "internal_error": EXIT_INTERNAL, "user_error": EXIT_USER_ERROR,
              "cancelled": EXIT_CANCELLED}

# Value kinds every front end knows how to show and pass on the command line.
KINDS = ("int", "float", "str", "bool", "choice", "date", "date_range", "file", "files", "folder", "model")


@dataclass(frozen=True)
class Option:
    """One option of a verb.

    Attributes:
        key: stable parameter key (snake_case); errors name it, front ends map it to their own names.
        kind: one of :data:`KINDS`. ``bool`` options are flags (``--no-heatmap`` style when
            ``flag`` says so, with ``default`` the value when the flag is absent).
        label: short human label for dialogs and Processing.
        help: one-sentence help, for ``--help``, tooltips and Processing help.
        default: value when the option is not given (``None``: not given / decided by the backend).
        minimum, maximum: inclusive range for numbers.
        choices: allowed values for ``choice``.
        flag: the CLI flag; defaults to ``--`` + key with dashes.
        required: the verb refuses to run without it.
        advanced: shown in the advanced section of GUIs.
        group: heading in ``--help``.
        metavar: placeholder in ``--help``.
        positional: a positional CLI argument (``nargs='?'`` unless required).
    """

    key: str
    kind: str
    label: str
    help: str
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    flag: str = ""
    required: bool = False
    advanced: bool = False
    group: str = ""
    metavar: str = ""
    positional: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"option {self.key}: unknown kind {self.kind!r}")
        if not self.flag and not self.positional:
            object.__setattr__(self, "flag", "--" + self.key.replace("_", "-"))

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not acceptable for this option, in words without any front end's names, or None."""
        if value is None:
            return "is required" if self.required else None
        if self.kind in ("int", "float"):
            if self.minimum is not None and value < self.minimum:
                return f"must be at least {_number(self.minimum)} ({self._range()})"
            if self.maximum is not None and value > self.maximum:
                return f"must be at most {_number(self.maximum)} ({self._range()})"
        if self.kind == "choice" and self.choices and value not in self.choices:
            return f"must be one of {', '.join(self.choices)}"
        return None

    def _range(self) -> str:
        low = "" if self.minimum is None else _number(self.minimum)
        high = "" if self.maximum is None else _number(self.maximum)
        return f"valid range {low}–{high}" if low and high else (f"at least {low}" if low else f"at most {high}")

    def to_json(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


@dataclass(frozen=True)
class Event:
    """A JSON-lines event type a verb emits, with the fields each instance carries."""

    name: str
    fields: tuple[str, ...]
    help: str = ""


# Events every verb may emit (see backend.progress.Reporter).
COMMON_EVENTS = (
    Event("progress", ("stage", "done", "total", "percent", "message", "eta_s"), "a step of a stage was done"),
    Event("log", ("message",), "a line for the log"),
    Event("warning", ("message", "param"), "something the user should know; the run goes on"),
    Event("result", (), "the verb's result: the verb's result keys"),
    Event("error", ("kind", "exit_code", "message", "param", "template"), "the run failed; nothing was written"),
)


@dataclass(frozen=True)
class Verb:
    """One CLI verb: ``python -m backend <name>``.

    Attributes:
        name: the verb.
        help: one line for ``--help``.
        options: its options, in display order.
        outputs: file names it writes into its output folder (final names).
        result_keys: keys of the ``result`` event.
        events: verb-specific events beyond :data:`COMMON_EVENTS`.
    """

    name: str
    help: str
    options: tuple[Option, ...]
    outputs: tuple[str, ...] = ()
    result_keys: tuple[str, ...] = ()
    events: tuple[Event, ...] = field(default=())

    def option(self, key: str) -> Option:
        """The option with this key.

        Raises:
            KeyError: the verb has no such option.
        """
        for opt in self.options:
            if opt.key == key:
                return opt
        raise KeyError(f"verb {self.name} has no option {key!r}")

    def default(self, key: str) -> Any:
        return self.option(key).default

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "help": self.help, "options": [o.to_json() for o in self.options],
                "outputs": list(self.outputs), "result_keys": list(self.result_keys),
                "events": [dataclasses.asdict(e) for e in (*COMMON_EVENTS, *self.events)]}
