"""Turning validation failures into one readable line per problem.

Each line names the file, the step (by id, or by index when the id is missing)
and the field, e.g.
``microneedling.yaml: step "makeup-24h" (steps[3]), field "at": expected HH:MM, got "25:00"``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from schedules.units import show

Location = tuple[str | int, ...]
KeysAt = Callable[[tuple[str, ...]], Collection[str]]

_PROBLEMS_TYPE = "protocol_problems"


@dataclass(frozen=True)
class Problem:
    """One thing wrong, at a location relative to the model that found it."""

    where: Location
    message: str


def problems_error(problems: Sequence[Problem]) -> PydanticCustomError:
    """A single pydantic error that carries several problems for :func:`describe`."""
    summary = "; ".join(f"{_field(p.where) or 'document'}: {p.message}" for p in problems)
    return PydanticCustomError(
        _PROBLEMS_TYPE, "{summary}", {"summary": summary, "problems": tuple(problems)}
    )


@dataclass(frozen=True)
class Finding:
    """One problem as a reader sees it: the line, and the step it belongs to (if any)."""

    line: str
    step: int | None = None  # index into the document's ``steps``


def describe(
    error: ValidationError, source: str, raw: Any, keys_at: KeysAt = lambda path: ()
) -> list[Finding]:
    """All problems of ``error``, each a line naming ``source``, step and field.

    ``keys_at`` gives the field names allowed at a location (list indices left
    out), used to suggest the right name for a mistyped key.
    """
    found: list[Finding] = []
    for item in error.errors():
        loc: Location = tuple(item["loc"])
        ctx = item.get("ctx") or {}
        if item["type"] == _PROBLEMS_TYPE:
            found.extend(_finding(source, raw, loc + p.where, p.message) for p in ctx["problems"])
        else:
            found.append(_finding(source, raw, loc, _message(item, keys_at)))
    return found


def _message(item: Mapping[str, Any], keys_at: KeysAt) -> str:
    kind = str(item["type"])
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return _unknown_field(tuple(item["loc"]), keys_at)
    message = str(item["msg"])
    if kind.startswith("protocol_"):
        return message
    return f"{message[:1].lower()}{message[1:]}, got {show(item.get('input'))}"


def _unknown_field(loc: Location, keys_at: KeysAt) -> str:
    parent = tuple(part for part in loc[:-1] if isinstance(part, str))
    close = difflib.get_close_matches(str(loc[-1]), list(keys_at(parent)), n=1, cutoff=0.7)
    return f'unknown field; did you mean "{close[0]}"?' if close else "unknown field"


def _finding(source: str, raw: Any, loc: Location, message: str) -> Finding:
    loc = tuple(part for part in loc if part != "[key]")
    if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
        who = _step_name(raw, loc[1])
        field = _field(loc[2:])
        line = (
            f'{source}: {who}, field "{field}": {message}'
            if field
            else f"{source}: {who}: {message}"
        )
        return Finding(line, loc[1])
    field = _field(loc)
    return Finding(f'{source}: field "{field}": {message}' if field else f"{source}: {message}")


def _step_name(raw: Any, index: int) -> str:
    step_id = raw_step_id(raw, index)
    if not step_id or not step_id.isprintable():  # "\r" would break the one-line message
        return f"step steps[{index}]"
    return f'step "{step_id}" (steps[{index}])'


def raw_step_id(raw: Any, index: int) -> str | None:
    """The ``id`` of ``steps[index]`` in a document as read, if it has a usable one."""
    steps = raw.get("steps") if isinstance(raw, Mapping) else None
    if not isinstance(steps, list) or not 0 <= index < len(steps):
        return None
    step = steps[index]
    step_id = step.get("id") if isinstance(step, Mapping) else None
    return step_id if isinstance(step_id, str) and step_id else None


def _field(path: Iterable[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text
