"""Command-line interface: ``python -m backend <verb> [options]``.

Each verb lives in its own module under :mod:`backend.commands` and exposes

* ``HELP``: one line for ``--help``;
* ``add_arguments(parser)``: its options;
* ``run(args, reporter) -> dict | None``: does the work; a returned dict is the verb's result.

Results are printed as JSON on stdout (one ``{"event": "result", ...}`` line with
``--progress json``, pretty JSON otherwise). A :class:`~backend.errors.UserError` prints its message
(JSON ``error`` event or plain stderr) and exits 2; a cancel exits 130; a bug exits 1 with the
traceback on stderr only, so stdout stays clean for the JSON-lines protocol.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import traceback
from typing import Any

import backend.commands
from backend import __version__
from backend.contract import VERBS, render
from backend.contract.cli_args import cli_name, validate
from backend.errors import EXIT_INTERNAL, EXIT_OK, Cancelled, UserError
from backend.progress import Reporter, emit_json, install_signal_handlers


def _discover_verbs() -> dict[str, Any]:
    verbs = {}
    for info in pkgutil.iter_modules(backend.commands.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"backend.commands.{info.name}")
        verbs[getattr(module, "VERB", info.name)] = module
    return dict(sorted(verbs.items()))


class _Parser(argparse.ArgumentParser):
    """argparse that raises UserError instead of printing usage and exiting, so errors stay JSON."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{self.prog}: {message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m backend", description="S1 Rice Mapper backend")
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    for name, module in _discover_verbs().items():
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        p.add_argument("--progress", choices=["json", "bar", "none"], default=None,
                       help="progress as JSON lines on stdout (for the QGIS plugin), a terminal bar, or none "
                            "(default: bar on a terminal, else none)")
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def _progress_mode(args: argparse.Namespace) -> str:
    if getattr(args, "progress", None):
        return args.progress
    return "bar" if sys.stderr.isatty() else "none"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    json_mode = "--progress" in argv and "json" in argv
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "verb", None):
            parser.print_help(sys.stderr)
            return 2
        mode = _progress_mode(args)
        json_mode = mode == "json"
        if args.verb in VERBS:
            validate(VERBS[args.verb], vars(args))
        install_signal_handlers()
        result = args._module.run(args, Reporter(mode))
        if result is not None:
            if json_mode:
                emit_json({"event": "result", **result})
            else:
                print(json.dumps(result, indent=2, default=str))
        return EXIT_OK
    except UserError as err:
        _report_error(str(err), err.exit_code, json_mode, kind=type(err).__name__, param=err.param,
                      verb=_verb_in(argv))
        return err.exit_code
    except Cancelled as err:
        _report_error(str(err), err.exit_code, json_mode, kind=type(err).__name__)
        return err.exit_code
    except KeyboardInterrupt:
        _report_error("cancelled by the user", Cancelled.exit_code, json_mode, kind="Cancelled")
        return Cancelled.exit_code
    except Exception as err:  # a bug: keep stdout clean, full traceback on stderr
        traceback.print_exc(file=sys.stderr)
        _report_error(f"internal error: {type(err).__name__}: {err} (details on stderr)", EXIT_INTERNAL,
                      json_mode, kind="InternalError")
        return EXIT_INTERNAL


def _verb_in(argv: list[str]) -> str | None:
    return next((a for a in argv if a in VERBS), None)


def _report_error(message: str, code: int, json_mode: bool, kind: str, param: str | None = None,
                  verb: str | None = None) -> None:
    """Print the error; ``{param:KEY}`` tokens become CLI flags, the JSON event also keeps the template."""
    contract = VERBS.get(verb) if verb else None
    text = render(message, lambda key: cli_name(contract, key) if contract else f"--{key.replace('_', '-')}")
    if json_mode:
        emit_json({"event": "error", "kind": kind, "exit_code": code, "message": text, "param": param,
                   "template": message})
    print(f"error: {text}", file=sys.stderr)
