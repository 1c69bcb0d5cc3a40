"""argparse parsers built from the contract, and value checks that name the parameter.

Range and choice checks happen here, after parsing, so that every failure is a
:class:`~backend.errors.UserError` carrying the parameter key; each front end names it its own way.
"""

from __future__ import annotations

import argparse
from typing import Any

from backend.contract.messages import param_token
from backend.contract.schema import Option, Verb
from backend.errors import UserError

_TYPES = {"int": int, "float": float, "ints": int, "bbox": float}


def add_arguments(parser: argparse.ArgumentParser, verb: Verb) -> None:
    """Add every option of ``verb`` to ``parser`` (grouped as in the contract; dest = the option key)."""
    groups: dict[str, Any] = {}
    for opt in verb.options:
        target = parser
        if opt.group:
            target = groups.setdefault(opt.group, parser.add_argument_group(opt.group))
        target.add_argument(*_names(opt), **_kwargs(opt))


def _names(opt: Option) -> list[str]:
    return [opt.key] if opt.positional else [opt.flag, *opt.aliases]


def _kwargs(opt: Option) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"help": _help(opt)}
    if not opt.positional:
        kwargs["dest"] = opt.key
    if opt.kind == "bool":
        kwargs["action"] = "store_false" if opt.flag.startswith("--no-") else "store_true"
        return kwargs
    if opt.kind in _TYPES or opt.kind == "ints":
        kwargs["type"] = _number_parser(opt)
    elif opt.upper:
        kwargs["type"] = str.upper
    if opt.choices:
        kwargs["metavar"] = "{" + ",".join(opt.choices) + "}"
    elif opt.metavar:
        kwargs["metavar"] = tuple(opt.metavar.split()) if opt.kind in ("date_range", "bbox") else opt.metavar
    # positionals are optional for argparse too: validate() reports a missing one, naming the parameter
    if opt.kind in ("files", "ints", "strs"):
        kwargs["nargs"] = "*" if opt.positional else "+"
    elif opt.kind == "date_range":
        kwargs["nargs"] = 2
    elif opt.kind == "bbox":
        kwargs["nargs"] = 4
    elif opt.positional:
        kwargs["nargs"] = "?"
    kwargs["default"] = list(opt.default) if isinstance(opt.default, tuple) else opt.default
    # required options are checked by validate(), so the error names the parameter (argparse would not)
    return kwargs


def _help(opt: Option) -> str:
    text = f"turn off: {opt.help}" if opt.flag.startswith("--no-") else opt.help
    if opt.required and not opt.positional:
        text += " (required)"
    if opt.default is not None and opt.kind != "bool":
        shown = " ".join(map(str, opt.default)) if isinstance(opt.default, (list, tuple)) else opt.default
        text += f" (default {shown})"
    if opt.kind in _TYPES and (opt.minimum is not None or opt.maximum is not None):
        text += f" [{opt.range_text()}]"
    return text.replace("%", "%%")


def _number_parser(opt: Option):  # noqa: ANN202 (argparse type callable)
    def parse(text: str) -> float | int:
        try:
            return _TYPES[opt.kind](text)
        except ValueError:
            kind = "a number" if opt.kind in ("float", "bbox") else "a whole number"
            raise UserError(f"{param_token(opt.key)} must be {kind}, got {text!r}", param=opt.key) from None
    return parse


def validate(verb: Verb, values: dict[str, Any]) -> None:
    """Check ranges, choices, dates, required options and the checks across options of ``values``.

    Raises:
        UserError: the first problem, naming the parameter by its key.
    """
    problems = verb.problems(values)
    if problems:
        key, template = problems[0]
        raise UserError(template, param=key)


def cli_name(verb: Verb, key: str) -> str:
    """How the CLI names parameter ``key`` of ``verb`` in messages (its flag)."""
    try:
        opt = verb.option(key)
    except KeyError:
        return key
    return opt.key.upper() if opt.positional else opt.flag
