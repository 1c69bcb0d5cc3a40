"""Typed description of a verb: options, outputs, result keys, events and exit codes."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Callable

# Exit codes of every verb (backend.errors raises with them; the plugin classifies failures by them).
EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USER_ERROR = 2
EXIT_CANCELLED = 130
EXIT_CODES = {"ok": EXIT_OK, "internal_error": EXIT_INTERNAL, "user_error": EXIT_USER_ERROR,
              "cancelled": EXIT_CANCELLED}

# Value kinds every front end knows how to show and pass on the command line.
KINDS = ("int", "float", "str", "bool", "choice", "date", "date_range", "file", "files", "folder", "model", "ints",
         "strs", "bbox")  # bbox: four numbers MINX MINY MAXX MAXY
# Kinds that take one or more values on the command line (a list in Python).
LIST_KINDS = ("files", "ints", "strs", "date_range", "bbox")


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
        aliases: further CLI flags accepted for the option (old spellings).
        upper: the CLI upper-cases the value(s) before checking the choices (``--mode fte``).
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
    aliases: tuple[str, ...] = ()
    upper: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"option {self.key}: unknown kind {self.kind!r}")
        if not self.flag and not self.positional:
            object.__setattr__(self, "flag", "--" + self.key.replace("_", "-"))

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not acceptable for this option, in words without any front end's names, or None."""
        if value is None or (self.kind in LIST_KINDS and isinstance(value, (list, tuple)) and not value):
            return "is required" if self.required else None
        for item in (value if self.kind in LIST_KINDS and isinstance(value, (list, tuple)) else [value]):
            problem = self._item_problem(item)
            if problem:
                return problem
        if self.kind == "date_range" and len(value) == 2 and str(value[0]) > str(value[1]):
            return f"starts after it ends ({value[0]} > {value[1]}); give the start before the end"
        return None

    def _item_problem(self, value: Any) -> str | None:
        if self.kind in ("date", "date_range"):
            try:
                dt.date.fromisoformat(str(value))
            except ValueError:
                return f"must be a date as YYYY-MM-DD, got {value!r}"
        if self.kind in ("int", "float", "ints") and isinstance(value, (int, float)):
            if self.minimum is not None and value < self.minimum:
                return f"must be at least {_number(self.minimum)}, got {_number(value)} ({self.range_text()})"
            if self.maximum is not None and value > self.maximum:
                return f"must be at most {_number(self.maximum)}, got {_number(value)} ({self.range_text()})"
        if self.choices and self.kind in ("choice", "strs") and value not in self.choices:
            return f"must be one of {', '.join(self.choices)}, got {value!r}"
        return None

    def range_text(self) -> str:
        """The valid range in words, for messages and help (``valid range 16–8192``)."""
        return self._range()

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
    Event("progress", ("stage", "done", "total", "eta", "message"),
          "a step of a stage was done; eta in seconds or null"),
    Event("log", ("message", "template"), "a line for the log; template (with {param:KEY} tokens) only when the "
          "message names a parameter"),
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
        checks: checks across options; each takes the values (key -> value) and returns
            ``(key, message template)`` for a problem, else None. Front ends run them too.
    """

    name: str
    help: str
    options: tuple[Option, ...]
    outputs: tuple[str, ...] = ()
    result_keys: tuple[str, ...] = ()
    events: tuple[Event, ...] = field(default=())
    checks: tuple[Callable[[dict[str, Any]], tuple[str, str] | None], ...] = field(default=(), compare=False)

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
        """The default of option ``key`` (None: decided by the backend at run time)."""
        return self.option(key).default

    def problems(self, values: dict[str, Any], keys: Any = None) -> list[tuple[str, str]]:
        """Every problem of ``values`` (key -> value, None = not given) as ``(key, message template)``.

        Ranges, choices and required options first, then the checks across options. Templates name
        parameters with ``{param:KEY}`` tokens (:func:`backend.contract.render`). ``keys`` limits the
        option checks to those options (a front end that offers only some of them); None: all.
        """
        found = []
        for opt in self.options:
            if keys is not None and opt.key not in keys:
                continue
            problem = opt.problem(values.get(opt.key))
            if problem:
                found.append((opt.key, "{param:" + opt.key + "} " + problem))
        if not found:
            found += [p for p in (check(values) for check in self.checks) if p]
        return found

    def output(self, stem: str, ext: str | None = None) -> str:
        """The output file named ``stem`` (``rice`` -> ``rice.tif``; ``ext='qml'`` -> its style).

        Front ends and the backend spell output names only through this, so they are written once.

        Raises:
            KeyError: the verb writes no such file.
        """
        for name in self.outputs:
            base, _, suffix = name.partition(".")
            if base == stem and (ext is None or suffix == ext):
                return name
        raise KeyError(f"verb {self.name} writes no output {stem!r}" + (f" .{ext}" if ext else ""))

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "help": self.help, "options": [o.to_json() for o in self.options],
                "outputs": list(self.outputs), "result_keys": list(self.result_keys),
                "events": [dataclasses.asdict(e) for e in (*COMMON_EVENTS, *self.events)]}
