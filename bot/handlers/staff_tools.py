"""/patients and /stats: a clinic's staff see their own patients' numbers, never another's."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import Update
from telegram.ext import CommandHandler

from bot.handlers.common import Context, chat_id_of, say
from bot.services import services
from messages.i18n import Translator, translator
from schedules.clinic_stats import PatientOverview, WeekStats, patient_overview, week_stats
from schedules.models import Clinic
from schedules.team import staff_by_user

STAFF_LOCALE = "en"  # staff read English until clinics choose a language


def stage_names(t: Translator) -> dict[str, str]:
    return {
        "onboarding": t("Still enrolling"),
        "no_treatment": t("Enrolled, no treatment date yet"),
        "first_week": t("First week after treatment"),
        "healing": t("Healing (days 8–27)"),
        "next_session_due": t("Due for the next session (day 28+)"),
        "paused": t("Paused"),
        "stopped": t("Stopped reminders"),
        "unreachable": t("Unreachable (blocked the bot)"),
    }


def overview_text(overview: PatientOverview, t: Translator) -> str:
    names = stage_names(t)
    total = sum(overview.by_stage.values())
    lines = [t("Patients: {total}", total=total)]
    lines += [
        f"• {names.get(stage, stage)}: {count}"
        for stage, count in sorted(overview.by_stage.items(), key=lambda i: -i[1])
    ]
    if overview.flagged:
        ids = ", ".join(f"#{pid}" for pid in overview.flagged[:20])
        lines.append(t("Flagged with a contraindication: {ids}", ids=ids))
    if overview.unreachable:
        ids = ", ".join(f"#{pid}" for pid in overview.unreachable[:20])
        lines.append(t("Unreachable: {ids}", ids=ids))
    return "\n".join(lines)


def stats_text(stats: WeekStats, t: Translator) -> str:
    levels = stats.reports_by_level
    return "\n".join(
        [
            t("The last 7 days:"),
            t("Reminders sent: {n}", n=stats.reminders_sent),
            t("Check-ins answered: {n}", n=stats.checkins_answered),
            t(
                "Symptom reports: {emergency} emergency, {urgent} urgent, {routine} for review, {expected} expected",
                emergency=levels.get("emergency", 0),
                urgent=levels.get("urgent", 0),
                routine=levels.get("routine_followup", 0),
                expected=levels.get("expected", 0),
            ),
        ]
    )


async def patients(update: Update, context: Context) -> None:
    async def answer(session: AsyncSession, clinic_id: int, default: bool, t: Translator) -> str:
        now = services(context).clock.now()
        return overview_text(await patient_overview(session, clinic_id, now, is_default=default), t)

    await _for_staff(update, context, answer)


async def stats(update: Update, context: Context) -> None:
    async def answer(session: AsyncSession, clinic_id: int, default: bool, t: Translator) -> str:
        now = services(context).clock.now()
        return stats_text(await week_stats(session, clinic_id, now, is_default=default), t)

    await _for_staff(update, context, answer)


Answer = Callable[[AsyncSession, int, bool, Translator], Awaitable[str]]


async def _for_staff(update: Update, context: Context, answer: Answer) -> None:
    """Run ``answer`` for the sender's clinic; anyone who is not staff is refused."""
    svc = services(context)
    t = translator(STAFF_LOCALE)
    async with svc.sessions() as session:
        member = await staff_by_user(session, chat_id_of(update))
        if member is None:
            text = t("This command is for clinic staff.")
        else:
            clinic = await session.get(Clinic, member.clinic_id)
            default = clinic is not None and clinic.slug == svc.clinic_slug
            text = await answer(session, member.clinic_id, default, t)
    await say(update, text)


HANDLERS = [CommandHandler("patients", patients), CommandHandler("stats", stats)]
