"""/start, language, the one-time "not a doctor" note, and the timezone picker.

``/start c-<patient code>`` (a clinic's link or QR code) enrols the patient at that clinic;
an unknown code still onboards them, with the operator's clinic. A patient whose
treatment is under way at one clinic stays there when they open another clinic's link
(they are told so): the plan, the protocol and the staff who hear of their symptoms
belong together. ``/start i-<code>`` is a staff invite, handled in ``staff``.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import Update
from telegram.ext import CommandHandler

from bot.handlers.common import (
    Context,
    Rows,
    button_data,
    chat_id_of,
    clinic_in_words,
    close_buttons,
    find_patient,
    on_button,
    patient_translator,
    remember,
    say,
    speak,
)
from bot.handlers.planning import replan_and_report
from bot.handlers.staff import join_by_invite
from bot.handlers.treatment import ask_treatment
from bot.services import services
from messages.formatting import country_name, local_clock
from messages.i18n import LANGUAGE_NAMES, SUPPORTED_LOCALES, Translator, pick_locale, translator
from messages.render import clinic_context
from schedules.clinics import Enrolment, enrol_patient, read_start_payload
from schedules.models import Clinic, Patient, PatientStatus
from schedules.zones import common_countries, country_timezones, find_timezones, is_valid_timezone

_PAYLOAD = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_ZONE_BUTTONS = 12


async def start(update: Update, context: Context) -> None:
    """Welcome a patient (enrolling them at the clinic their link names), or, for a staff
    invite link, make the person staff instead."""
    payload = context.args[0] if context.args else None
    link = read_start_payload(payload)
    if link.kind == "invite":
        await join_by_invite(update, context, link.code)
        return
    svc = services(context)
    async with svc.sessions() as session:
        patient = await _patient_for_start(session, update, svc.clock.now(), payload)
        enrolment = await enrol_patient(session, patient, link.code) if link.code else None
        clinic = await session.get(Clinic, patient.clinic_id) if patient.clinic_id else None
    t = translator(patient.locale)
    if enrolment is not None and enrolment.refused is not None:
        await say(update, _kept_at(t, enrolment))
    if patient.status == PatientStatus.ACTIVE:
        await say(
            update,
            t(
                "Welcome back! Your reminders are running. /plan shows what's next, /help lists everything I can do."
            ),
        )
        return
    await say(
        update, welcome(t, clinic) + "\n\n" + t("Which language would you like?"), language_rows()
    )


async def _patient_for_start(
    session: AsyncSession, update: Update, now: datetime, payload: str | None
) -> Patient:
    """The patient in this chat (created on first contact), with the link's payload kept."""
    patient = await find_patient(session, chat_id_of(update))
    if patient is None:
        user = update.effective_user
        patient = Patient(
            chat_id=chat_id_of(update),
            locale=pick_locale(user.language_code if user else None),
            created_at=now,
        )
    if payload and _PAYLOAD.match(payload):
        patient.start_payload = payload
    patient.awaiting = None
    session.add(patient)
    await session.commit()
    return patient


def welcome(t: Translator, clinic: Clinic | None) -> str:
    """The first words, naming the clinic when the patient came through its link."""
    if clinic is None or not clinic_context(clinic.name):
        return t(
            "Hello! I'm your clinic's aftercare assistant. I'll send you the right care tips at the right time after your treatment."
        )
    return t(
        "Hello! I'm the aftercare assistant of {clinic}. I'll send you the right care tips at the right time after your treatment.",
        clinic=clinic.name,
    )


def _kept_at(t: Translator, enrolment: Enrolment) -> str:
    """Why a patient with a treatment under way stays with their clinic."""
    assert enrolment.refused is not None
    current = clinic_in_words(enrolment.clinic, t)
    return t(
        "Your current treatment's aftercare is with {current}, so I'll keep you with them. If {new} is treating you now, please ask them to help you move.",
        current=current,
        new=clinic_in_words(enrolment.refused, t),
    )


def language_rows() -> Rows:
    return [[(LANGUAGE_NAMES[code], f"lang:{code}") for code in SUPPORTED_LOCALES]]


async def choose_language(update: Update, context: Context) -> None:
    svc = services(context)
    code = button_data(update).removeprefix("lang:")
    if code not in SUPPORTED_LOCALES:
        await say(update, speak(update, None)("That option is no longer available."))
        return
    async with svc.sessions() as session:
        patient = await find_patient(session, chat_id_of(update))
        if patient is None:
            await _not_started(update)
            return
        patient.locale = code
        session.add(patient)
        await session.commit()
    t = translator(code)
    await close_buttons(update, LANGUAGE_NAMES[code])
    if patient.consent_at is None:
        await say(update, disclaimer(t), [[(t("I understand"), "consent")]])
    elif patient.timezone is None:
        await ask_timezone(update, context, t)
    else:
        await say(
            update,
            t("Done. I'll write to you in {language} from now on.", language=LANGUAGE_NAMES[code]),
        )


def disclaimer(t: Translator) -> str:
    return t(
        "Please note: I give general aftercare guidance from your clinic's protocol. "
        "I am not a doctor and cannot examine you. If something worries you, contact your clinic. "
        "In an emergency, call your local emergency number."
    )


async def accept_disclaimer(update: Update, context: Context) -> None:
    svc = services(context)
    async with svc.sessions() as session:
        patient = await find_patient(session, chat_id_of(update))
        if patient is None:
            await _not_started(update)
            return
        if patient.consent_at is None:
            patient.consent_at = svc.clock.now()
            session.add(patient)
            await session.commit()
    t = translator(patient.locale)
    await close_buttons(update, t("I understand"))
    await ask_timezone(update, context, t)


async def ask_timezone(update: Update, context: Context, t: Translator) -> None:
    await remember(context, update, "timezone")
    countries = [
        (country_name(code, t.locale), f"cc:{code}") for code, _ in common_countries(t.locale)
    ]
    rows = [countries[i : i + 3] for i in range(0, len(countries), 3)]
    await say(
        update,
        t(
            "Where are you? Pick your country, or type your city (e.g. Berlin) or a timezone (e.g. Europe/Berlin)."
        ),
        rows,
    )


async def choose_country(update: Update, context: Context) -> None:
    zones = country_timezones(button_data(update).removeprefix("cc:"))
    await offer_zones(update, context, zones)


async def offer_zones(update: Update, context: Context, zones: list[str]) -> None:
    """One zone: confirm it. Several: let the patient pick. None: ask again."""
    t = await patient_translator(update, context)
    if len(zones) == 1:
        await confirm_zone(update, context, zones[0])
        return
    if not zones:
        await say(
            update,
            t(
                "I couldn't find that place. Try a big city near you (e.g. Madrid) or a timezone like Europe/Madrid."
            ),
        )
        return
    buttons = [
        (zone.split("/")[-1].replace("_", " "), f"tz:{zone}") for zone in zones[:MAX_ZONE_BUTTONS]
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    await say(update, t("Which of these is closest to you? You can also type your city."), rows)


async def pick_zone(update: Update, context: Context) -> None:
    await confirm_zone(update, context, button_data(update).removeprefix("tz:"))


async def confirm_zone(update: Update, context: Context, zone: str) -> None:
    t = await patient_translator(update, context)
    if not is_valid_timezone(zone):
        await say(update, t("That option is no longer available."))
        return
    now = services(context).clock.now()
    await say(
        update,
        t(
            "Your local time would be {time} ({zone}). Is that right?",
            time=local_clock(now, zone, t.locale),
            zone=zone,
        ),
        [[(t("Yes, that's right"), f"tzok:{zone}"), (t("No, change"), "tzagain")]],
    )


async def zone_confirmed(update: Update, context: Context) -> None:
    svc = services(context)
    zone = button_data(update).removeprefix("tzok:")
    if not is_valid_timezone(zone):
        await say(update, speak(update, None)("That option is no longer available."))
        return
    async with svc.sessions() as session:
        patient = await find_patient(session, chat_id_of(update))
        if patient is None:
            await _not_started(update)
            return
        first_time = patient.timezone is None
        patient.timezone, patient.awaiting = zone, None
        session.add(patient)
        await session.commit()
    t = translator(patient.locale)
    await close_buttons(update, zone)
    if first_time or patient.status == PatientStatus.ONBOARDING:
        await ask_treatment(update, context, t)
    else:
        await replan_and_report(update, context, t)


async def zone_again(update: Update, context: Context) -> None:
    t = await patient_translator(update, context)
    await close_buttons(update)
    await ask_timezone(update, context, t)


async def typed_timezone(update: Update, context: Context, text: str) -> None:
    await offer_zones(update, context, find_timezones(text))


async def _not_started(update: Update) -> None:
    await say(update, speak(update, None)("Please send /start first."))


HANDLERS = [
    CommandHandler("start", start),
    on_button(r"^lang:", choose_language),
    on_button(r"^consent$", accept_disclaimer),
    on_button(r"^cc:", choose_country),
    on_button(r"^tz:", pick_zone),
    on_button(r"^tzok:", zone_confirmed),
    on_button(r"^tzagain$", zone_again),
]
