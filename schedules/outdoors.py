"""Outdoor mode, pure: when an outing ends and which of its reminders a plan holds.

An outing starts when the patient says they are going outside (``Patient.outdoors_since``)
and ends when they say they are inside, or by itself at the earlier of

* ``MAX_OUTING`` (8 hours) after it began: nobody needs SPF reminders all day and night
  because they forgot to say they came in, and
* local evening: the ``until_local`` of the protocol's outdoors-anchored steps on the
  outing's local day (19:00 in the bundled protocol).

The outing's reminders are the protocol's outdoors-anchored steps planned from its start
(``plan(..., events={"outdoors": since})``); one due after the end is never planned, one
due exactly at the end is (like the planner's inclusive ``until_local``). Every re-plan
goes through :func:`plan_with_outing`, so a change of quiet hours, timezone or treatment
keeps the current outing's reminders, and once the outing ended a re-plan cancels
whatever of it was still pending.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from schedules.planner import PlannedReminder, Preferences, plan
from schedules.protocol import Anchor, ProtocolSpec
from schedules.wallclock import require_aware, wall_to_utc, zone

MAX_OUTING = timedelta(hours=8)


def outdoor_step_ids(spec: ProtocolSpec) -> frozenset[str]:
    """The steps that belong to an outing (anchored to going outdoors)."""
    return frozenset(step.id for step in spec.steps if step.anchor is Anchor.OUTDOORS)


def outing_end(spec: ProtocolSpec, since: datetime, timezone: str) -> datetime:
    """When an outing that began at ``since`` ends by itself (UTC)."""
    start = require_aware(since, "since")
    tz = zone(timezone)
    day = start.astimezone(tz).date()
    ends = [start + MAX_OUTING]
    for step in spec.steps:
        if step.anchor is Anchor.OUTDOORS and step.until_local is not None:
            ends.append(wall_to_utc(datetime.combine(day, step.until_local), tz))
    return min(ends)


def outing_is_on(
    spec: ProtocolSpec, since: datetime | None, timezone: str | None, now: datetime
) -> bool:
    """Whether an outing that began at ``since`` is still going on at ``now``."""
    if since is None or timezone is None:
        return False
    return require_aware(since, "since") <= now <= outing_end(spec, since, timezone)


def plan_with_outing(
    spec: ProtocolSpec,
    treated_at: datetime,
    prefs: Preferences,
    *,
    outdoors_since: datetime | None,
    now: datetime,
) -> list[PlannedReminder]:
    """The treatment's plan, plus the current outing's reminders up to its end."""
    if not outing_is_on(spec, outdoors_since, prefs.timezone, now):
        return plan(spec, treated_at, prefs)
    assert outdoors_since is not None
    end = outing_end(spec, outdoors_since, prefs.timezone)
    outdoor = outdoor_step_ids(spec)
    return [
        item
        for item in plan(spec, treated_at, prefs, events={Anchor.OUTDOORS.value: outdoors_since})
        if item.step_id not in outdoor or item.due_at <= end
    ]


def outing_reminders(
    planned: list[PlannedReminder], spec: ProtocolSpec, now: datetime
) -> list[datetime]:
    """When the outing's reminders in ``planned`` that are still to come are due."""
    outdoor = outdoor_step_ids(spec)
    return sorted(item.due_at for item in planned if item.step_id in outdoor and item.due_at > now)
