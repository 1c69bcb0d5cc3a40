"""Command-line interface: ``python -m backend <verb> [options]``.

Each verb is described once in :mod:`backend.contract` (options, outputs, results) and implemented in
its own module under :mod:`backend.commands`, which exposes

* ``run(args, reporter) -> dict | None``: does the work; a returned dict is the verb's result;
* optionally ``check(args, reporter) -> dict | None``: the verb's own input checks without doing the work
  and without writing anything (``--check-only``; the contract's range and choice checks always run).

The parser is built from the contract, so a flag, default or range is written once. Results are printed
as JSON on stdout (one ``{"event": "result", ...}`` line with ``--progress json``, pretty JSON otherwise).
A :class:`~backend.errors.UserError` prints its message (JSON ``error`` event or plain stderr) and exits 2;
a cancel exits 130; a bug exits 1 with the traceback on stderr only, so stdout stays clean for the
JSON-lines protocol. A reader that closes stdout early (``info … | head``) ends the run quietly.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import sys
import traceback
from types import ModuleType

import backend.commands
from backend import __version__
from backend.cli_args import add_arguments, cli_name, validate
from backend.contract import VERBS, render
from backend.errors import EXIT_INTERNAL, EXIT_OK, Cancelled, UserError, cli_flag, missing_extra
from backend.progress import Reporter, emit_json, install_signal_handlers


def _command_names() -> list[str]:
    """Names of the command modules (one per verb), without importing them."""
    return sorted(info.name for info in pkgutil.iter_modules(backend.commands.__path__)
                  if not info.name.startswith("_"))


def _discover_commands(only: str | None = None) -> dict[str, ModuleType]:
    """Command modules by verb name; only ``only``'s when given and it exists.

    Importing every command module costs about 0.2 s of a run's start-up (their own imports: HTTP, the
    catalogue, Dask's helpers ...), which a run of one verb does not need; ``--help`` still imports all.
    """
    names = _command_names()
    if only in names:
        names = [only]
    return {name: importlib.import_module(f"backend.commands.{name}") for name in names}


class _Parser(argparse.ArgumentParser):
    """argparse that raises UserError instead of printing usage and exiting, so errors stay JSON."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{self.prog}: {message} (see `{self.prog} --help`)")


def build_parser(verb: str | None = None) -> argparse.ArgumentParser:
    """The CLI, one sub-parser per contract verb that has a command module.

    Args:
        verb: When it names a command, only that verb's sub-parser is built (and its module imported), so
            a run starts faster; otherwise every verb's is (``--help``, a mistyped verb).

    Returns:
        The parser.
    """
    parser = _Parser(prog="python -m backend", description="S1 Rice Mapper backend")
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    for name, module in _discover_commands(verb).items():
        contract = VERBS.get(name)
        text = contract.help if contract else getattr(module, "HELP", name)
        p = sub.add_parser(name, help=text, description=text)
        _add_common_arguments(p)
        if contract:
            add_arguments(p, contract)
        else:  # a verb not yet in the contract still runs; tests/backend/test_contract.py fails until it is
            module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def _add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--progress", choices=["json", "bar", "none"], default=None,
                        help="progress as JSON lines on stdout (for the QGIS plugin), a terminal bar, or none "
                             "(default: bar on a terminal, else none)")
    parser.add_argument("--check-only", action="store_true", dest="check_only",
                        help="only check the options and inputs (ranges, files, dates, model) and print what was "
                             "checked; do no work and write nothing")


def _progress_mode(args: argparse.Namespace) -> str:
    if getattr(args, "progress", None):
        return args.progress
    return "bar" if sys.stderr.isatty() else "none"


def main(argv: list[str] | None = None) -> int:
    """Run one verb; returns the exit code (see :data:`backend.contract.EXIT_CODES`)."""
    argv = sys.argv[1:] if argv is None else argv
    json_mode = "--progress" in argv and "json" in argv
    try:
        parser = build_parser(_first_positional(argv))
        args = parser.parse_args(argv)
        if not getattr(args, "verb", None):
            parser.print_help(sys.stderr)
            return 2
        json_mode = _progress_mode(args) == "json"
        contract = VERBS.get(args.verb)
        name_of = (lambda key: cli_name(contract, key)) if contract else cli_flag
        result = _run(args, Reporter(_progress_mode(args), name_of=name_of))
        if result is not None:
            _print_result(result, json_mode)
        return EXIT_OK
    except BrokenPipeError:
        return _reader_went_away()
    except UserError as err:
        _report_error(err.template, err.exit_code, json_mode, kind=type(err).__name__, param=err.param,
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


def _run(args: argparse.Namespace, reporter: Reporter) -> dict | None:
    """The contract's checks, then the verb's own checks (``--check-only``) or its work."""
    contract = VERBS.get(args.verb)
    if contract is not None:
        validate(contract, vars(args))
    try:
        if args.check_only:
            return check_only(args.verb, args._module, args, reporter)
        install_signal_handlers()
        return args._module.run(args, reporter)
    except ModuleNotFoundError as err:  # the lean environment lacks an extra's library: say which extra to add
        raise missing_extra(err) from None


def check_only(verb: str, module: ModuleType, args: argparse.Namespace, reporter: Reporter) -> dict:
    """``--check-only``: the verb's own checks (inputs opened, dates and model looked at), nothing written."""
    check = getattr(module, "check", None)
    details = check(args, reporter) if check is not None else None
    checked = ["options"] + (["inputs"] if check is not None else [])
    return {"ok": True, "verb": verb, "checked": checked, "details": details or {}}


def _print_result(result: dict, json_mode: bool) -> None:
    if json_mode:
        emit_json({"event": "result", **result})
    else:
        print(json.dumps(result, indent=2, default=str))
        sys.stdout.flush()


def _reader_went_away() -> int:
    """stdout was closed by its reader (``| head``): stop quietly, as other command-line tools do."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush must not fail again
    except OSError:
        pass
    return EXIT_OK


def _first_positional(argv: list[str]) -> str | None:
    """The verb a command line names: its first argument, unless that is an option (``--help``, ``--version``)."""
    return argv[0] if argv and not argv[0].startswith("-") else None


def _verb_in(argv: list[str]) -> str | None:
    return next((a for a in argv if a in VERBS), None)


def _report_error(message: str, code: int, json_mode: bool, kind: str, param: str | None = None,
                  verb: str | None = None) -> None:
    """Print the error; ``{param:KEY}`` tokens become CLI flags, the JSON event also keeps the template."""
    contract = VERBS.get(verb) if verb else None
    text = render(message, (lambda key: cli_name(contract, key)) if contract else cli_flag)
    if json_mode:
        emit_json({"event": "error", "kind": kind, "exit_code": code, "message": text, "param": param,
                   "template": message})
    print(f"error: {text}", file=sys.stderr)
