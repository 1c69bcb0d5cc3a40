"""Processing parameters built from the backend's contract, and the backend's own checks before a run.

Every scalar parameter of an algorithm (numbers, choices, switches, strings, dates) is made here from the
contract's option: its default, range, choices, label and help are the backend's, so Processing cannot
drift from the CLI (the OVERLAP default of 64 against the backend's 32 was such a drift). The Processing
name of an option is ``key.upper()`` unless :data:`PROCESSING_NAMES` says otherwise; a date range becomes two
string parameters (``SEASON_START``, ``SEASON_END``). The same table renders ``{param:KEY}`` tokens of
backend messages as Processing names, and turns parameter values back into the backend's arguments.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Iterable

from qgis.core import (
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)

from ...backend.contract import VERBS, Option, render
from .runner import run_backend

# Processing names that are not key.upper(); a tuple names the two parameters of a date range.
PROCESSING_NAMES: dict[str, dict[str, str | tuple[str, str]]] = {
    "map": {"season": ("SEASON_START", "SEASON_END"), "heatmap": "WITH_HEATMAP", "out": "OUTPUT_FOLDER"},
    "finetune": {"season": ("SEASON_START", "SEASON_END"), "out": "OUTPUT_FOLDER"},
    "evaluate": {"pred": "PREDICTION", "out": "OUTPUT_FOLDER"},
    "seasons": {"period": ("PERIOD_START", "PERIOD_END"), "out": "OUTPUT_FOLDER"},
    "fetch": {"season": ("SEASON_START", "SEASON_END"), "out": "OUTPUT_FOLDER"},
}
CACHE_SECONDS = 120.0
_checked: dict[tuple, float] = {}


def processing_names(verb: str, key: str) -> tuple[str, ...]:
    """The Processing parameter name(s) of contract option ``key`` of ``verb``."""
    name = PROCESSING_NAMES.get(verb, {}).get(key, key.upper())
    return name if isinstance(name, tuple) else (name,)


def name_of(verb: str) -> Callable[[str], str]:
    """Renders a parameter key as Processing names it (``season`` -> ``SEASON_START/SEASON_END``)."""
    return lambda key: "/".join(processing_names(verb, key))


def render_for_processing(verb: str, template: str) -> str:
    """A backend message with its ``{param:KEY}`` tokens as Processing parameter names."""
    return render(template, name_of(verb))


# --- building parameters -----------------------------------------------------------------------------

def parameters_for(verb: str, key: str) -> list[QgsProcessingParameterDefinition]:
    """The Processing parameter(s) of one contract option, with the contract's default, range and help."""
    opt = VERBS[verb].option(key)
    names = processing_names(verb, key)
    optional = not opt.required
    if opt.kind == "date_range":
        made = [QgsProcessingParameterString(name, f"{opt.label} {part} (YYYY-MM-DD, empty: automatic)",
                                             optional=True) for name, part in zip(names, ("start", "end"))]
    else:
        made = [_one_parameter(opt, names[0], optional)]
    for parameter in made:
        parameter.setHelp(_help(opt))
        if opt.advanced:
            parameter.setFlags(parameter.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
    return made


def _one_parameter(opt: Option, name: str, optional: bool) -> QgsProcessingParameterDefinition:
    if opt.kind in ("int", "float"):
        number_type = QgsProcessingParameterNumber.Type.Integer if opt.kind == "int" else QgsProcessingParameterNumber.Type.Double
        parameter = QgsProcessingParameterNumber(name, opt.label, number_type, opt.default,
                                                 optional=optional and opt.default is None)
        if opt.minimum is not None:
            parameter.setMinimum(opt.minimum)
        if opt.maximum is not None:
            parameter.setMaximum(opt.maximum)
        return parameter
    if opt.kind == "choice":
        default = opt.choices.index(opt.default) if opt.default in opt.choices else None
        return QgsProcessingParameterEnum(name, opt.label, list(opt.choices), defaultValue=default,
                                          optional=default is None and optional)
    if opt.kind == "bool":
        return QgsProcessingParameterBoolean(name, opt.label, defaultValue=bool(opt.default))
    if opt.kind == "files":
        return QgsProcessingParameterMultipleLayers(name, opt.label, QgsProcessing.SourceType.TypeRaster, optional=optional)
    if opt.kind == "folder":
        if opt.required:
            return QgsProcessingParameterFolderDestination(name, opt.label)
        return QgsProcessingParameterFile(name, opt.label, behavior=QgsProcessingParameterFile.Behavior.Folder,
                                          optional=True)
    if opt.kind == "file":
        return QgsProcessingParameterFile(name, opt.label, optional=optional)
    label = opt.label + (" (comma-separated)" if opt.kind == "strs" else "")
    label += " (YYYY-MM-DD)" if opt.kind == "date" else ""
    default = ", ".join(map(str, opt.default)) if isinstance(opt.default, tuple) else opt.default
    return QgsProcessingParameterString(name, label, defaultValue=default, optional=optional)


def _help(opt: Option) -> str:
    text = opt.help[:1].upper() + opt.help[1:]
    if opt.kind in ("int", "float") and (opt.minimum is not None or opt.maximum is not None):
        text += f" ({opt.range_text()})"
    return text + "."


def output_folder_parameter(verb: str, key: str = "out") -> QgsProcessingParameterFolderDestination:
    """The output folder as a Processing destination (so batch and model runs can name it), with the
    contract's label and help, whether or not the verb itself requires it."""
    opt = VERBS[verb].option(key)
    parameter = QgsProcessingParameterFolderDestination(processing_names(verb, key)[0], opt.label)
    parameter.setHelp(_help(opt))
    return parameter


def add_parameters(algorithm: Any, verb: str, keys: Iterable[str]) -> None:
    """Add the Processing parameters of ``keys`` (contract options of ``verb``) to ``algorithm``."""
    for key in keys:
        for parameter in parameters_for(verb, key):
            algorithm.addParameter(parameter)


# --- values and arguments ----------------------------------------------------------------------------

def values(algorithm: Any, verb: str, keys: Iterable[str], parameters: dict,
           context: QgsProcessingContext) -> dict[str, Any]:
    """The contract values (key -> value, None = not given) of the scalar parameters ``keys``."""
    found: dict[str, Any] = {}
    for key in keys:
        opt = VERBS[verb].option(key)
        names = processing_names(verb, key)
        found[key] = _value(algorithm, opt, names, parameters, context)
    return found


def _given(parameters: dict, name: str) -> bool:
    return parameters.get(name) not in (None, "")


def _value(algorithm: Any, opt: Option, names: tuple[str, ...], parameters: dict,
           context: QgsProcessingContext) -> Any:
    name = names[0]
    if opt.kind == "date_range":
        parts = [algorithm.parameterAsString(parameters, n, context).strip() for n in names]
        return parts if all(parts) else None
    if opt.kind == "bool":
        return algorithm.parameterAsBoolean(parameters, name, context)
    if opt.kind == "choice":
        return opt.choices[algorithm.parameterAsEnum(parameters, name, context)] if _given(parameters, name) or \
            opt.default is not None else None
    if opt.kind in ("int", "float"):
        if not _given(parameters, name) and algorithm.parameterDefinition(name).defaultValue() is None:
            return None
        number = algorithm.parameterAsDouble(parameters, name, context)
        return int(number) if opt.kind == "int" and float(number).is_integer() else number
    text = algorithm.parameterAsString(parameters, name, context).strip()
    if opt.kind == "strs":
        return [part.strip() for part in text.replace(";", ",").split(",") if part.strip()] or None
    return text or None


def missing_season_half(verb: str, given: dict[str, Any], parameters: dict) -> list[str]:
    """A date range with only one of its two dates given (the contract sees it as not given)."""
    problems = []
    for opt in VERBS[verb].options:
        if opt.kind == "date_range" and opt.key in given and given[opt.key] is None:
            names = processing_names(verb, opt.key)
            if sum(_given(parameters, n) for n in names) == 1:
                problems.append(f"{' and '.join(names)}: give both dates or neither (neither: automatic).")
    return problems


def contract_problems(verb: str, given: dict[str, Any]) -> list[str]:
    """What the contract refuses (ranges, choices, dates, checks across options), in Processing's names."""
    found = VERBS[verb].problems(given, keys=set(given))
    return [render_for_processing(verb, template) + "." for _, template in found]


def backend_check(verb: str, args: list[str], files: Iterable[str] = ()) -> str | None:
    """The backend's own checks (``--check-only``: files opened, dates and model looked at), or None if fine.

    Processing checks twice (``checkParameterValues``, then ``prepareAlgorithm``, which batch rows and model
    steps reach without the first), so a success is remembered for a while; the key includes the files'
    modification times, so an edited input is looked at again, and failures are never remembered.
    """
    key = (verb, tuple(args), tuple(os.stat(f).st_mtime_ns if os.path.exists(f) else None for f in files))
    now = time.monotonic()
    if now - _checked.get(key, -CACHE_SECONDS) < CACHE_SECONDS:
        return None
    try:
        run_backend(verb, [*args, "--check-only"], name_of=name_of(verb))
    except QgsProcessingException as error:
        return str(error)
    _checked[key] = now
    return None
