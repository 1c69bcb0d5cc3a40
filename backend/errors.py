"""Exceptions that carry a message meant for the user.

A :class:`UserError` is something the user can fix (a bad path, a missing date, a wrong parameter).
Its message names the file or parameter and says what to do; the CLI prints it without a traceback
and exits with :data:`EXIT_USER_ERROR`. Anything else is a bug and exits with :data:`EXIT_INTERNAL`.
"""

from __future__ import annotations

# relative: inside QGIS this package is <plugin>.backend, and the contract is pure standard library
from .contract.messages import render
from .contract.schema import EXIT_CANCELLED, EXIT_INTERNAL, EXIT_OK, EXIT_USER_ERROR

__all__ = ["EXIT_CANCELLED", "EXIT_INTERNAL", "EXIT_OK", "EXIT_USER_ERROR", "Cancelled", "UserError", "cli_flag"]


def cli_flag(key: str) -> str:
    """The CLI flag most verbs give parameter ``key`` (``as_of`` -> ``--as-of``)."""
    return "--" + key.replace("_", "-")


class UserError(Exception):
    """A problem with the input that the user can fix.

    Args:
        message: what is wrong and what to do. A parameter is named by the token ``{param:KEY}``
            (:func:`backend.contract.param_token`), which each front end renders in its own terms; it is
            kept as :attr:`template`. ``str(err)`` renders the tokens as CLI flags (for logs and tests).
        param: the contract key of the parameter at fault, if one is (for example ``"season"``).
    """

    exit_code = EXIT_USER_ERROR

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.template = message
        self.param = param

    def __str__(self) -> str:
        return render(self.template, cli_flag)


class Cancelled(Exception):
    """The run was stopped by SIGINT/SIGTERM or by the client; outputs were not finalised."""

    exit_code = EXIT_CANCELLED


#: Top-level modules that only the optional PyTorch extra brings (requirements/training.txt; scipy comes with
#: scikit-learn and is what `synth` needs), not the lean
#: mapping environment (requirements/mapping.txt).
EXTRA_MODULES = frozenset({"torch", "onnx", "onnxscript", "sklearn", "scipy", "safetensors", "skl2onnx"})


def missing_extra(err: ModuleNotFoundError) -> Exception:
    """A :class:`UserError` saying how to add the PyTorch extra when ``err`` is about one of its modules.

    Args:
        err: the import failure raised by a verb.

    Returns:
        The UserError to raise instead, or ``err`` itself when the module is not one of the extra's.
    """
    name = (err.name or "").split(".")[0]
    if name not in EXTRA_MODULES:
        return err
    return UserError(f"this needs {name}, which belongs to the optional PyTorch extra, not to the lean mapping "
                     "environment: in QGIS open Settings, choose 'Mapping + PyTorch' under Install and press the "
                     "set-up button; without QGIS run plugin/backend_setup.py --extras training (or gpu)")
