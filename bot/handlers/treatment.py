"""/treated: when was the treatment? Buttons for the usual answers, typed dates for the rest.

A patient who already has a treatment is asked whether the date is a new session of
their course (the old treatment ends, the new one is numbered one higher and planned) or
a correction of the last one (its date moves, its reminders are re-planned). A new
session sooner than the course's minimum gap is registered only after a warning.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import Update
from telegram.ext import CommandHandler

from bot.handlers.common import (
    Context,
    button_data,
    chat_id_of,
    close_buttons,
    find_patient,
    local_now,
    on_button,
    patient_translator,
    remember,
    say,
    speak,
)
from bot.handlers.course import progress_text
from bot.handlers.input_errors import explain
from bot.handlers.planning import replan_and_report
from bot.handlers.profile import ask_profile
from bot.services import Services, services
from messages.formatting import local_moment
from messages.i18n import Translator, translator
from schedules.clinics import clinic_of
from schedules.courses import days_apart, initial_course, too_soon
from schedules.errors import InputError
from schedules.models import Patient, PatientStatus, Treatment
from schedules.plans import active_treatment, set_treatment, start_next_session
from schedules.when import parse_treatment_time_on

TIME_CHOICES = ("08:00", "10:00", "12:00", "14:00", "16:00", "18:00")
DAY_WORDS = ("today", "yesterday")
Kind = Literal["new", "fix"]


async def treated_command(update: Update, context: Context) -> None:
    async with services(context).sessions() as session:
        patient = await find_patient(session, chat_id_of(update))
    t = speak(update, patient)
    if patient is None or patient.consent_at is None:
        await say(update, t("Please send /start first."))
    elif patient.timezone is None:
        await say(update, t("First, let's set your timezone: /settings"))
    else:
        await ask_treatment(update, context, t)


async def ask_treatment(update: Update, context: Context, t: Translator) -> None:
    await remember(context, update, "treated")
    await say(
        update,
        t("When was your treatment?"),
        [
            [(t("Just now"), "trnow"), (t("Earlier today"), "trday:today")],
            [(t("Yesterday"), "trday:yesterday"), (t("Another day"), "trtype")],
        ],
    )


async def day_chosen(update: Update, context: Context) -> None:
    day = button_data(update).removeprefix("trday:")
    t = await patient_translator(update, context)
    if day not in DAY_WORDS:
        await say(update, t("That option is no longer available."))
        return
    await close_buttons(update, t("Earlier today") if day == "today" else t("Yesterday"))
    await remember(context, update, f"treated:{day}")
    buttons = [(hour, f"trat:{day}:{hour}") for hour in TIME_CHOICES]
    await say(
        update,
        t("About what time? Pick one or type it (e.g. 14:30)."),
        [buttons[:3], buttons[3:]],
    )


async def time_chosen(update: Update, context: Context) -> None:
    _, day, clock = button_data(update).split(":", 2)
    await close_buttons(update, clock)
    await _typed_or_chosen(update, context, f"{day} {clock}", confirm=False)


async def just_now(update: Update, context: Context) -> None:
    t = await patient_translator(update, context)
    await close_buttons(update, t("Just now"))
    await register(update, context, services(context).clock.now())


async def type_date(update: Update, context: Context) -> None:
    t = await patient_translator(update, context)
    await close_buttons(update)
    await remember(context, update, "treated")
    await say(
        update,
        t(
            'Type the date and time of your treatment, e.g. "28.03 14:00", "2026-03-28 10:00" or "yesterday 5pm".'
        ),
    )


async def typed_treatment(update: Update, context: Context, text: str, day: str | None) -> None:
    """A typed answer to "when?"; ``day`` is set when the patient already chose today/yesterday."""
    await _typed_or_chosen(
        update, context, text, confirm=True, day=day if day in DAY_WORDS else None
    )


async def _typed_or_chosen(
    update: Update, context: Context, text: str, *, confirm: bool, day: str | None = None
) -> None:
    svc = services(context)
    async with svc.sessions() as session:
        patient = await find_patient(session, chat_id_of(update))
    if patient is None or patient.timezone is None:
        await say(update, speak(update, patient)("Please send /start first."))
        return
    t = translator(patient.locale)
    try:
        parsed = parse_treatment_time_on(text, local_now(patient, svc.clock), day)
    except InputError as error:
        await say(update, explain(error, t))
        return
    treated_at = parsed.local.astimezone(UTC)
    if not confirm:
        await register(update, context, treated_at)
        return
    when = local_moment(treated_at, patient.timezone, patient.locale)
    note = "" if parsed.time_given else "\n" + t("You gave no time, so I'll assume 12:00.")
    await say(
        update,
        t("Your treatment was on {when} (your local time). Is that right?", when=when) + note,
        [[(t("Yes"), f"trok:{int(treated_at.timestamp())}"), (t("No, change"), "trtype")]],
    )


async def confirmed(update: Update, context: Context) -> None:
    raw = button_data(update).removeprefix("trok:")
    t = await patient_translator(update, context)
    if not raw.isdigit():
        await say(update, t("That option is no longer available."))
        return
    await close_buttons(update, t("Yes"))
    await register(update, context, datetime.fromtimestamp(int(raw), UTC))


async def register(
    update: Update, context: Context, treated_at: datetime, *, kind: Kind | None = None
) -> None:
    """Store the treatment time, activate the patient, plan, and say what comes next.

    With a current treatment, ``kind`` says whether this is a new session or a corrected
    date; without it the patient is asked first.
    """
    async with services(context).sessions() as session:
        patient = await find_patient(session, chat_id_of(update))
        current = await active_treatment(session, patient.id) if patient and patient.id else None
    if patient is None or patient.timezone is None:
        await say(update, speak(update, patient)("Please send /start first."))
        return
    if current is not None and kind is None:
        await remember(context, update, None)
        await ask_new_or_fix(update, translator(patient.locale), patient, current, treated_at)
        return
    await _record(update, context, treated_at, new_session=kind == "new")


async def _record(
    update: Update, context: Context, treated_at: datetime, *, new_session: bool
) -> None:
    svc = services(context)
    async with svc.sessions() as session:
        patient = await find_patient(session, chat_id_of(update))
        if patient is None or patient.timezone is None:
            await say(update, speak(update, patient)("Please send /start first."))
            return
        protocol_id = await _protocol_for(session, svc, patient)
        spec = await svc.catalog.spec(protocol_id)
        was_active = patient.status == PatientStatus.ACTIVE
        now = svc.clock.now()
        assert patient.id is not None
        if new_session and await active_treatment(session, patient.id) is not None:
            treatment = await start_next_session(session, patient, treated_at, protocol_id, now)
        else:
            course = initial_course(spec, patient.start_payload)
            treatment = await set_treatment(
                session, patient, treated_at, protocol_id, now, course=course
            )
        if patient.status in (PatientStatus.ONBOARDING, PatientStatus.UNREACHABLE):
            patient.status = PatientStatus.ACTIVE
        patient.awaiting = None
        session.add(patient)
        await session.commit()
    t = translator(patient.locale)
    if not was_active:
        await say(
            update,
            t(
                "All set! I'll send your aftercare tips at the right times, never during your quiet hours (21:00–08:00 unless you change them in /settings)."
            ),
        )
    line = progress_text(t, await svc.catalog.spec(treatment.protocol_id), treatment)
    if line is not None:
        await say(update, line)
    await replan_and_report(update, context, t)
    if not was_active:
        await ask_profile(update, context)


async def _protocol_for(session: AsyncSession, svc: Services, patient: Patient) -> int:
    """The id of the newest version of the patient's clinic's protocol; the operator's
    protocol if the clinic's is not in the catalog."""
    clinic = await clinic_of(session, patient, svc.clinic_slug)
    protocol = await svc.catalog.latest(clinic.protocol_slug) if clinic else None
    protocol = protocol or await svc.catalog.latest(svc.protocol_slug)
    assert protocol is not None
    assert protocol.id is not None
    return protocol.id


async def ask_new_or_fix(
    update: Update, t: Translator, patient: Patient, current: Treatment, treated_at: datetime
) -> None:
    assert patient.timezone is not None
    stamp = int(treated_at.timestamp())
    await say(
        update,
        t(
            "Your last treatment was on {last}. Is this a new session, or are you correcting the date of the last one?",
            last=local_moment(current.treated_at, patient.timezone, patient.locale),
        ),
        [[(t("A new session"), f"trnew:{stamp}"), (t("Correcting the date"), f"trfix:{stamp}")]],
    )


def _stamp(update: Update, prefix: str) -> datetime | None:
    raw = button_data(update).removeprefix(prefix)
    return datetime.fromtimestamp(int(raw), UTC) if raw.isdigit() else None


async def correction(update: Update, context: Context) -> None:
    t = await patient_translator(update, context)
    treated_at = _stamp(update, "trfix:")
    if treated_at is None:
        await say(update, t("That option is no longer available."))
        return
    await close_buttons(update, t("Correcting the date"))
    await register(update, context, treated_at, kind="fix")


async def new_session(update: Update, context: Context) -> None:
    """A new session: refused if it is not after the last one, warned if it is too soon."""
    svc = services(context)
    treated_at = _stamp(update, "trnew:")
    async with svc.sessions() as session:
        patient = await find_patient(session, chat_id_of(update))
        current = await active_treatment(session, patient.id) if patient and patient.id else None
    t = speak(update, patient)
    if treated_at is None or patient is None or patient.timezone is None:
        await say(update, t("That option is no longer available."))
        return
    await close_buttons(update, t("A new session"))
    if current is None:
        await register(update, context, treated_at, kind="new")
        return
    last = local_moment(current.treated_at, patient.timezone, patient.locale)
    if treated_at == current.treated_at:
        await say(update, t("That session is already registered. /plan shows what's coming."))
        return
    if treated_at < current.treated_at:
        await say(
            update,
            t(
                "A new session has to be after your last treatment ({last}). If that date was wrong, send /treated again and choose “Correcting the date”.",
                last=last,
            ),
        )
        return
    found = (await svc.catalog.spec(current.protocol_id)).course_for(current.course)
    if found is not None and too_soon(current.treated_at, treated_at, found[1], patient.timezone):
        await say(
            update,
            t(
                "This session is only {days} days after your last one ({last}). The usual gap is at least {weeks} weeks; please check with your clinic. Register it anyway?",
                days=days_apart(current.treated_at, treated_at, patient.timezone),
                last=last,
                weeks=found[1].interval_weeks[0],
            ),
            [
                [
                    (t("Yes, register it"), f"trsoon:{int(treated_at.timestamp())}"),
                    (t("No, cancel"), "trkeep"),
                ]
            ],
        )
        return
    await register(update, context, treated_at, kind="new")


async def too_soon_confirmed(update: Update, context: Context) -> None:
    t = await patient_translator(update, context)
    treated_at = _stamp(update, "trsoon:")
    if treated_at is None:
        await say(update, t("That option is no longer available."))
        return
    await close_buttons(update, t("Yes, register it"))
    async with services(context).sessions() as session:
        patient = await find_patient(session, chat_id_of(update))
        current = await active_treatment(session, patient.id) if patient and patient.id else None
    if current is not None and treated_at <= current.treated_at:
        await say(update, t("That session is already registered. /plan shows what's coming."))
        return
    await register(update, context, treated_at, kind="new")


async def keep_as_is(update: Update, context: Context) -> None:
    t = await patient_translator(update, context)
    await close_buttons(update, t("No, cancel"))
    await say(update, t("Nothing changed. /treated registers a treatment whenever you need."))


HANDLERS = [
    CommandHandler("treated", treated_command),
    on_button(r"^trnow$", just_now),
    on_button(r"^trday:", day_chosen),
    on_button(r"^trat:(today|yesterday):\d\d:\d\d$", time_chosen),
    on_button(r"^trtype$", type_date),
    on_button(r"^trok:", confirmed),
    on_button(r"^trnew:\d+$", new_session),
    on_button(r"^trfix:\d+$", correction),
    on_button(r"^trsoon:\d+$", too_soon_confirmed),
    on_button(r"^trkeep$", keep_as_is),
]
