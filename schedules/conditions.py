"""Send-time decisions about one due occurrence: does it still apply, is it too late?

Both are pure: the dispatcher passes the patient's state and "now".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from schedules.protocol import LateAction, Step, WhileState
from schedules.wallclock import require_aware


@dataclass(frozen=True)
class PatientState:
    """What the patient has told us that send-time conditions look at."""

    redness_gone: bool = False
    skin_type: str | None = None
    # None: not known here, so pigmentation conditions are left to the plan.
    pigmentation_watch: bool | None = None


def skin_type_matches(step: Step, skin_type: str | None) -> bool:
    """True unless the step is limited to skin types that ``skin_type`` is not one of."""
    wanted = step.condition.skin_types if step.condition else None
    if wanted is None:
        return True
    return skin_type is not None and skin_type.strip().lower() in {t.value for t in wanted}


def pigmentation_matches(step: Step, watch: bool) -> bool:
    """True unless the step is only for patients on pigmentation watch and this one is not."""
    wanted = step.condition.pigmentation if step.condition else None
    return wanted is None or wanted == watch


def step_applies(step: Step, state: PatientState) -> bool:
    """Whether the step's condition still holds for this patient right now."""
    if not skin_type_matches(step, state.skin_type):
        return False
    if state.pigmentation_watch is not None and not pigmentation_matches(
        step, state.pigmentation_watch
    ):
        return False
    limited_to = step.condition.while_ if step.condition else None
    return not (limited_to is WhileState.REDNESS and state.redness_gone)


def decide_late(
    step: Step, due_at: datetime, now: datetime, *, newer_occurrence_due: bool
) -> Literal["send", "skip"]:
    """Send or skip an occurrence that is due (perhaps long ago) at ``now``.

    ``send``: always send. ``skip``: send only within ``grace`` of ``due_at``.
    ``collapse``: skip if a newer occurrence of the same step is also due, else
    like ``skip`` (without a grace, the newest is sent however late).
    """
    lateness = require_aware(now, "now") - require_aware(due_at, "due_at")
    late = step.late
    if late.policy is LateAction.SEND:
        return "send"
    if late.policy is LateAction.COLLAPSE and newer_occurrence_due:
        return "skip"
    if late.grace is not None and lateness > late.grace:
        return "skip"
    return "send"
