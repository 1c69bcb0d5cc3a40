"""How a form starts a backend run, written once for the Map rice dialog, the fine-tune panel and Get
Sentinel-1: the verb's own checks first (``<verb> … --check-only``: a refusal is said in the form's words
and its field outlined), then the run itself, listed in QGIS's task manager and cancellable there.
"""

from __future__ import annotations

from typing import Callable, TypeVar

from qgis.core import QgsApplication, QgsTask
from qgis.PyQt.QtWidgets import QWidget

from .backend_client import BackendClient, BackendFailure, BackendRun, BackendTask
from .contract_view import render_message
from .diagnostics import guarded, set_message, warn
from .form_contract import FieldOutline, field_name
from .layer_inputs import InputProblem

Request = TypeVar("Request")


def form_request(iface, status_label, busy: bool, busy_message: str, build: Callable[[], Request]) -> Request | None:
    """What a form's Run button asks for, or None after saying why not (a run is going, or ``build``
    raised :class:`InputProblem`) in the form's status line and the message bar.

    Args:
        iface: QGIS's interface (for the message bar).
        status_label: The form's status line.
        busy: A run of this form is being checked or computed.
        busy_message: What to say then (wait, or cancel).
        build: Reads the form; raises InputProblem with what to fix.
    """
    if busy:
        warn(iface, status_label, busy_message)
        return None
    try:
        return build()
    except InputProblem as problem:
        warn(iface, status_label, str(problem))
        return None


def start_task(client: BackendClient, verb: str, args: list[str], description: str,
               slots: dict[str, Callable]) -> BackendRun:
    """Start ``verb`` as a task of QGIS's task manager, its signals connected first.

    Args:
        client: The form's backend client.
        verb: The backend verb.
        args: Its arguments.
        description: The task manager's line.
        slots: Signal name of :class:`BackendRun` (``progress``, ``other_event``, ``result``, ``failed``,
            ``finished``, ``log``) -> the slot to connect.

    Returns:
        The started run.
    """
    run = client.run(verb, args)
    for signal, slot in slots.items():
        getattr(run, signal).connect(slot)
    run.task = BackendTask(description, run)
    QgsApplication.taskManager().addTask(run.task)
    run.start()
    return run


def after_task(run: BackendRun | None, action: Callable[[], None]) -> None:
    """Call ``action`` once ``run``'s task-manager line is over (now, if it is or has none).

    QGIS may announce a finished task in the message bar; a message pushed after that stays on top.
    """
    task = getattr(run, "task", None)
    try:
        over = task is None or task.status() in (QgsTask.TaskStatus.Complete, QgsTask.TaskStatus.Terminated)
    except RuntimeError:  # the task manager already deleted it
        over = True
    if over:
        action()
        return
    done: list[bool] = []

    def once(*_args) -> None:
        if not done:
            done.append(True)
            action()
    task.taskCompleted.connect(once)
    task.taskTerminated.connect(once)


class BackendCheck:
    """The backend's checks of a form's request (``--check-only``), answered in the form's words.

    Args:
        iface: QGIS's interface (for the message bar).
        client: The form's backend client.
        verb: The verb to check.
        status_label: Where the form says what happens.
        fields: Contract key -> the widget that edits it (the field a refusal outlines).
    """

    def __init__(self, iface, client: BackendClient, verb: str, status_label,
                 fields: Callable[[], dict[str, QWidget]]) -> None:
        self.iface = iface
        self.client = client
        self.verb = verb
        self.status_label = status_label
        self.fields = fields
        self.outline = FieldOutline()
        self._pending: object | None = None

    @property
    def checking(self) -> bool:
        """A check is in flight and its answer still wanted."""
        return self._pending is not None

    def begin(self, args: list[str], on_ok: Callable[[], None], on_refused: Callable[[], None]) -> None:
        """Ask the backend; ``on_ok`` when it accepts, else ``on_refused`` after the refusal is shown."""
        self.outline.clear()
        token = self._pending = object()
        self.client.check_async(self.verb, args, lambda _answer: self._accepted(token, on_ok),
                                lambda failure: self._refused(token, failure, on_refused))

    def forget(self) -> bool:
        """Drop the pending check's answer (the user cancelled); True when one was pending."""
        pending, self._pending = self._pending is not None, None
        return pending

    def name_of(self, key: str) -> str:
        """How the form names the field of contract key ``key``."""
        return field_name(self.verb, key)

    @guarded
    def _accepted(self, token: object, on_ok: Callable[[], None]) -> None:
        if token is not self._pending:  # cancelled while the backend was checking
            return
        self._pending = None
        on_ok()

    @guarded
    def _refused(self, token: object, failure: BackendFailure, on_refused: Callable[[], None]) -> None:
        if token is not self._pending:
            return
        self._pending = None
        on_refused()
        if failure.cancelled:
            set_message(self.status_label, failure.message)
            return
        message = render_message(failure.template, self.verb, self.name_of) if failure.template else failure.message
        self.outline.show(self.fields().get(failure.param or ""))
        warn(self.iface, self.status_label, message)
