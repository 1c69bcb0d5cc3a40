"""Exceptions that carry a message meant for the user.

A :class:`UserError` is something the user can fix (a bad path, a missing date, a wrong parameter).
Its message names the file or parameter and says what to do; the CLI prints it without a traceback
and exits with :data:`EXIT_USER_ERROR`. Anything else is a bug and exits with :data:`EXIT_INTERNAL`.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USER_ERROR = 2
EXIT_CANCELLED = 130


class UserError(Exception):
    """A problem with the input that the user can fix; ``str(err)`` is the whole message.

    Args:
        message: what is wrong and what to do. A parameter is named by the token ``{param:KEY}``
            (:func:`backend.contract.param_token`), which each front end renders in its own terms.
        param: the contract key of the parameter at fault, if one is (for example ``"season"``).
    """

    exit_code = EXIT_USER_ERROR

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class Cancelled(Exception):
    """The run was stopped by SIGINT/SIGTERM or by the client; outputs were not finalised."""

    exit_code = EXIT_CANCELLED
