"""argparse parsers built from the contract, and value checks that name the parameter.

Range and choice checks happen here, after parsing, so that every failure is a
:class:`~backend.errors.UserError` carrying the parameter key; each front end names it its own way.
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from ..errors import UserError
from .messages import param_token
from .schema import Option, Verb

_TYPES = {"int": int, "float": float}


def add_arguments(parser: argparse.ArgumentParser, verb: Verb) -> None:
    """Add every option of ``verb`` to ``parser`` (grouped as in the contract; dest = the option key)."""
    groups: dict[str, Any] = {}
    for opt in verb.options:
        target = parser
        if opt.group:
            target = groups.setdefault(opt.group, parser.add_argument_group(opt.group))
        target.add_argument(*_names(opt), **_kwargs(opt))


def _names(opt: Option) -> list[str]:
    return [opt.key] if opt.positional else [opt.flag]


def _kwargs(opt: Option) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"help": _help(opt)}
    if not opt.positional:
        kwargs["dest"] = opt.key
    if opt.kind == "bool":
        kwargs["action"] = "store_false" if opt.flag.startswith("--no-") else "store_true"
        return kwargs
    if opt.kind in _TYPES:
        kwargs["type"] = _number_parser(opt)
    if opt.kind == "choice":
        kwargs["metavar"] = "{" + ",".join(opt.choices) + "}"
    elif opt.metavar:
        kwargs["metavar"] = tuple(opt.metavar.split()) if opt.kind == "date_range" else opt.metavar
    if opt.kind == "files":
        kwargs["nargs"] = "+"
    elif opt.kind == "date_range":
        kwargs["nargs"] = 2
    if opt.positional and not opt.required:
        kwargs["nargs"] = "?"
    kwargs["default"] = opt.default
    if opt.required and not opt.positional:
        kwargs["required"] = True
    return kwargs


def _help(opt: Option) -> str:
    text = f"turn off: {opt.help}" if opt.flag.startswith("--no-") else opt.help
    if opt.default is not None and opt.kind != "bool":
        text += f" (default {opt.default})"
    if opt.kind in _TYPES and (opt.minimum is not None or opt.maximum is not None):
        text += f" [{opt._range()}]"
    return text.replace("%", "%%")


def _number_parser(opt: Option):  # noqa: ANN202 (argparse type callable)
    def parse(text: str) -> float | int:
        try:
            return _TYPES[opt.kind](text)
        except ValueError:
            kind = "a whole number" if opt.kind == "int" else "a number"
            raise UserError(f"{param_token(opt.key)} must be {kind}, got {text!r}", param=opt.key) from None
    return parse


def validate(verb: Verb, values: dict[str, Any]) -> None:
    """Check ranges, choices, dates and required options of parsed ``values`` (key -> value).

    Raises:
        UserError: the first problem, naming the parameter by its key.
    """
    for opt in verb.options:
        value = values.get(opt.key)
        problem = opt.problem(value)
        if problem is None and value is not None and opt.kind in ("date", "date_range"):
            problem = _date_problem(value)
        if problem:
            raise UserError(f"{param_token(opt.key)} {problem}", param=opt.key)


def _date_problem(value: Any) -> str | None:
    for text in (value if isinstance(value, (list, tuple)) else [value]):
        try:
            dt.date.fromisoformat(str(text))
        except ValueError:
            return f"must be a date as YYYY-MM-DD, got {text!r}"
    if isinstance(value, (list, tuple)) and len(value) == 2 and str(value[0]) > str(value[1]):
        return f"starts after it ends ({value[0]} > {value[1]}); give START before END"
    return None


def cli_name(verb: Verb, key: str) -> str:
    """How the CLI names parameter ``key`` of ``verb`` in messages (its flag)."""
    try:
        opt = verb.option(key)
    except KeyError:
        return key
    return opt.key.upper() if opt.positional else opt.flag
