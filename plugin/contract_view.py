"""The backend's contract as the plugin's widgets need it: per option its label, tooltip, default, range and
choices, and messages rendered in the dialog's words.

The contract (``backend/contract``) is pure standard library and ships inside the plugin folder, so it is
imported here relatively, with no backend process. Dialogs take every default, range and choice from here
(never a literal of their own), and show a backend message with its ``{param:KEY}`` tokens rendered as the
field's label, so no CLI flag reaches a QGIS user.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from ..backend.contract import EXIT_CODES, VERBS, Option, Verb, render
from ..backend.contract.messages import params_in

__all__ = ["EXIT_CODES", "choices", "cli_args", "default", "field_keys", "label", "option", "output_name",
           "problems", "render_message", "tooltip", "value_range", "verb"]


def verb(name: str) -> Verb:
    """The contract of backend verb ``name`` (``map``, ``finetune``, ...).

    Raises:
        KeyError: the backend has no such verb.
    """
    return VERBS[name]


def option(verb_name: str, key: str) -> Option:
    """Option ``key`` of ``verb_name``.

    Raises:
        KeyError: no such verb or option.
    """
    return VERBS[verb_name].option(key)


def default(verb_name: str, key: str) -> Any:
    """The backend's default (None: the backend decides at run time, e.g. the model's season)."""
    return option(verb_name, key).default


def label(verb_name: str, key: str) -> str:
    """The short human label of the option, for a form row or a message."""
    return option(verb_name, key).label


def tooltip(verb_name: str, key: str) -> str:
    """The option's help with its range and default, for a widget's tooltip."""
    opt = option(verb_name, key)
    text = opt.help[:1].upper() + opt.help[1:]
    if opt.kind in ("int", "float") and (opt.minimum is not None or opt.maximum is not None):
        text += f" ({opt.range_text()})"
    if opt.default is not None and opt.kind != "bool":
        text += f"; default {opt.default}"
    return text + "."


def value_range(verb_name: str, key: str) -> tuple[float | None, float | None]:
    """``(minimum, maximum)`` of a number option, inclusive; None where open."""
    opt = option(verb_name, key)
    return opt.minimum, opt.maximum


def choices(verb_name: str, key: str) -> tuple[str, ...]:
    """The allowed values of a choice option, in the contract's order."""
    return option(verb_name, key).choices


def output_name(verb_name: str, stem: str, ext: str | None = None) -> str:
    """An output file's name (``output_name("map", "rice")`` -> the rice map's file name)."""
    return VERBS[verb_name].output(stem, ext)


def field_keys(template: str) -> list[str]:
    """The option keys a backend message names (the fields a dialog should highlight)."""
    return params_in(template)


def render_message(template: str, verb_name: str | None = None,
                   names: Mapping[str, str] | Callable[[str], str] | None = None) -> str:
    """A backend message in the dialog's words: each ``{param:KEY}`` becomes the field's name.

    Args:
        template: the message as the backend wrote it (the ``template`` of an error or log event).
        verb_name: the verb whose labels name the fields when ``names`` does not.
        names: the dialog's own field names by key (a mapping or a function), tried first.

    Returns:
        The message with every token replaced, for example ``'Tile size (pixels)' must be at least 16``.
    """
    def name_of(key: str) -> str:
        if callable(names):
            return names(key)
        if names and key in names:
            return names[key]
        try:
            return f"'{label(verb_name, key)}'" if verb_name else key
        except KeyError:
            return key.replace("_", " ")

    return render(template, name_of)


def problems(verb_name: str, values: Mapping[str, Any],
             names: Mapping[str, str] | Callable[[str], str] | None = None) -> list[tuple[str, str]]:
    """What the backend's contract refuses in ``values`` (key -> value; None = not given), before any run.

    Returns:
        ``(key, message)`` per problem, rendered with :func:`render_message`; empty when the contract
        accepts the values (the backend's ``--check-only`` then looks at files, dates and the model).
    """
    found = VERBS[verb_name].problems(dict(values), keys=set(values))
    return [(key, render_message(template, verb_name, names)) for key, template in found]


def cli_args(verb_name: str, given: Mapping[str, Any]) -> list[str]:
    """The backend's arguments for option values (key -> value): each option's own flag, lists spread,
    switches only when they differ from their default, None (not given) left out, so the backend's
    default applies. Dialogs and Processing both build their command lines with it."""
    args: list[str] = []
    for key, value in given.items():
        opt = option(verb_name, key)
        if value is None:
            continue
        if opt.kind == "bool":
            if bool(value) != opt.flag.startswith("--no-"):  # --x when True, --no-x when False
                args.append(opt.flag)
        elif isinstance(value, (list, tuple)):
            args += [opt.flag, *map(str, value)]
        else:
            args += [opt.flag, str(value)]
    return args
