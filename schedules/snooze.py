"""Snoozing a reminder, pure: when the copy is due and which outbox key it takes.

"Remind me in 1 hour" makes a new outbox row (``Reminder.snoozed_from`` = the original),
so a snooze is as lossless as any planned reminder and survives restarts. Re-planning
leaves snoozed rows alone (``store.apply_plan`` only looks at planned rows).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from schedules.planner import Preferences, QuietHours, place_outside_quiet
from schedules.protocol import QuietRule
from schedules.wallclock import require_aware, zone

SNOOZE = timedelta(hours=1)


def snooze_occurrence(original_id: int) -> int:
    """The outbox key of the snoozed copy of reminder ``original_id``: ``-original_id``.

    Planned occurrence keys are never negative (day * 100 + index, interval counts,
    outing minutes * 100 + count), so a snooze can never collide with the plan, however
    far an outing lies from the treatment. Reminder ids are unique, so each reminder
    (a snoozed copy included) has exactly one snooze: pressing twice makes one row.
    """
    if original_id <= 0:
        raise ValueError(f"a stored reminder has a positive id, got {original_id}")
    return -original_id


def snooze_due(now: datetime, prefs: Preferences) -> datetime:
    """An hour from ``now``, or the end of quiet hours if that falls inside them.

    Always deferred, whatever the step's own quiet rule: "in 1 hour" must not come
    earlier than asked, so a snooze at 20:30 waits for the morning.
    """
    due = require_aware(now, "now") + SNOOZE
    quiet = QuietHours(prefs.quiet_start, prefs.quiet_end)
    placed = place_outside_quiet(due, QuietRule.DEFER, quiet, zone(prefs.timezone), floor=due)
    return placed or due
