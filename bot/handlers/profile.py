"""The skin profile: three skippable questions after enrolment, changeable in /settings.

Skin type and pigmentation watch shape the plan (re-planned on every change); any
contraindication is stored as the clinic's flag and the patient is told to talk to the
clinic. Each button carries its question's mode: ``e`` continues the enrolment questions,
``s`` changes one answer from /settings. The multi-select keeps its ticks in the buttons'
data, so nothing is stored until "Done".
"""

from __future__ import annotations

import re

from telegram import Update

from bot.handlers.common import (
    Context,
    Rows,
    button_data,
    chat_id_of,
    close_buttons,
    find_patient,
    keyboard,
    on_button,
    patient_translator,
    say,
    speak,
)
from bot.handlers.planning import replan_and_report
from bot.services import services
from messages.i18n import Translator, translator
from schedules.models import Patient
from schedules.plans import replan_patient
from schedules.profile import (
    CHOICES,
    CONTRAINDICATIONS,
    NONE_OF_THESE,
    SKIN_TYPES,
    contraindications_of,
    decode,
    encode,
    profile_untouched,
    toggle,
)

ENROL, SETTINGS = "e", "s"
SKIP = "skip"

_SKIN = re.compile(rf"^pf:skin:({'|'.join(SKIN_TYPES)}|{SKIP}):([es])$")
_PIGMENTATION = re.compile(r"^pf:pig:(yes|no|skip):([es])$")
_TOGGLE = re.compile(r"^pf:ct:(\d{1,2}):([es])$")
_DONE = re.compile(r"^pf:cd:(\d{1,2}):([es])$")
_CONDITIONS_SKIP = re.compile(r"^pf:cs:([es])$")


def skin_label(t: Translator, skin_type: str) -> str:
    labels = {
        "dry": t("Dry"),
        "normal": t("Normal"),
        "oily": t("Oily"),
        "sensitive": t("Sensitive"),
    }
    return labels.get(skin_type, skin_type)


def choice_label(t: Translator, choice: str) -> str:
    labels = {
        "rosacea": t("Rosacea"),
        "eczema": t("Eczema"),
        "scars-easily": t("My skin scars easily"),
        "active-acne-or-cold-sores": t("Active acne or cold sores on the treated area"),
        NONE_OF_THESE: t("None of these"),
    }
    return labels.get(choice, choice)


# --- the questions ---------------------------------------------------------------------------


def skin_question(t: Translator) -> str:
    return t("What is your skin type?")


def skin_rows(t: Translator, mode: str) -> Rows:
    buttons = [(skin_label(t, kind), f"pf:skin:{kind}:{mode}") for kind in SKIN_TYPES]
    return [buttons[:2], buttons[2:], [(t("Skip"), f"pf:skin:{SKIP}:{mode}")]]


def pigmentation_question(t: Translator) -> str:
    return t("Do you have a darker skin tone, or have you ever had melasma or dark patches?")


def pigmentation_rows(t: Translator, mode: str) -> Rows:
    return [
        [(t("Yes"), f"pf:pig:yes:{mode}"), (t("No"), f"pf:pig:no:{mode}")],
        [(t("Skip"), f"pf:pig:{SKIP}:{mode}")],
    ]


def conditions_question(t: Translator) -> str:
    return t("Does any of these apply to you? Tap all that do, then Done.")


def conditions_rows(t: Translator, selected: frozenset[str], mode: str) -> Rows:
    rows: list[list[tuple[str, str]]] = []
    for choice in CHOICES:
        label = choice_label(t, choice)
        mark = "✓ " if choice in selected else ""
        rows.append([(mark + label, f"pf:ct:{encode(toggle(selected, choice))}:{mode}")])
    rows.append([(t("Done"), f"pf:cd:{encode(selected)}:{mode}"), (t("Skip"), f"pf:cs:{mode}")])
    return rows


async def ask_profile(update: Update, context: Context) -> None:
    """Right after enrolment: the first question, unless the profile was already given."""
    async with services(context).sessions() as session:
        patient = await find_patient(session, chat_id_of(update))
    if patient is None or not profile_untouched(patient):
        return
    t = translator(patient.locale)
    intro = t("A few quick questions so I can tailor your tips — you can skip any.")
    await say(update, f"{intro}\n\n{skin_question(t)}", skin_rows(t, ENROL))


# --- the answers -----------------------------------------------------------------------------


async def skin_chosen(update: Update, context: Context) -> None:
    match = _SKIN.match(button_data(update))
    assert match is not None  # the handler's pattern
    value, mode = match.groups()
    answered = await _answered(update, context, "skin", value, mode)
    if answered is None:
        return
    t, go_on = answered
    if go_on:
        await say(update, pigmentation_question(t), pigmentation_rows(t, ENROL))
    else:
        await _saved(update, context, t, replan=value != SKIP)


async def pigmentation_chosen(update: Update, context: Context) -> None:
    match = _PIGMENTATION.match(button_data(update))
    assert match is not None
    value, mode = match.groups()
    answered = await _answered(update, context, "pigmentation", value, mode)
    if answered is None:
        return
    t, go_on = answered
    if go_on:
        await say(update, conditions_question(t), conditions_rows(t, frozenset(), ENROL))
    else:
        await _saved(update, context, t, replan=value != SKIP)


async def _answered(
    update: Update, context: Context, question: str, value: str, mode: str
) -> tuple[Translator, bool] | None:
    """Store a skin-type or pigmentation answer, re-plan, close the question.

    Returns the patient's translator and whether the enrolment questions go on (only
    until they were finished once: each is asked once).
    """
    svc = services(context)
    async with svc.sessions() as session:
        patient = await find_patient(session, chat_id_of(update))
        if patient is None:
            await say(update, speak(update, None)("Please send /start first."))
            return None
        t = translator(patient.locale)
        go_on = mode == ENROL and patient.profile_done_at is None
        if question == "skin":
            note = t("Skip") if value == SKIP else skin_label(t, value)
            if value != SKIP:
                patient.skin_type = value
        else:
            note = {"yes": t("Yes"), "no": t("No")}.get(value, t("Skip"))
            if value != SKIP:
                patient.pigmentation_watch = value == "yes"
        session.add(patient)
        if value != SKIP:
            await replan_patient(session, patient, svc.catalog, now=svc.clock.now())
        await session.commit()
    if value != SKIP:
        svc.wake_dispatcher()
    await close_buttons(update, note)
    return t, go_on


async def _saved(update: Update, context: Context, t: Translator, *, replan: bool) -> None:
    if not replan:
        await say(update, t("Nothing changed."))
        return
    await say(update, t("Saved."))
    async with services(context).sessions() as session:
        patient = await find_patient(session, chat_id_of(update))
    if patient is not None and patient.timezone is not None:
        await replan_and_report(update, context, t)


async def condition_toggled(update: Update, context: Context) -> None:
    match = _TOGGLE.match(button_data(update))
    assert match is not None
    t = await patient_translator(update, context)
    try:
        selected = decode(int(match.group(1)))
    except ValueError:
        await say(update, t("That option is no longer available."))
        return
    query = update.callback_query
    if query is not None and query.message is not None:
        await query.edit_message_reply_markup(
            keyboard(conditions_rows(t, selected, match.group(2)))
        )


async def conditions_done(update: Update, context: Context) -> None:
    match = _DONE.match(button_data(update))
    assert match is not None
    try:
        selected = decode(int(match.group(1)))
    except ValueError:
        t = await patient_translator(update, context)
        await say(update, t("That option is no longer available."))
        return
    await _finish_conditions(update, context, contraindications_of(selected), match.group(2))


async def conditions_skipped(update: Update, context: Context) -> None:
    match = _CONDITIONS_SKIP.match(button_data(update))
    assert match is not None
    await _finish_conditions(update, context, None, match.group(1))


async def _finish_conditions(
    update: Update, context: Context, chosen: list[str] | None, mode: str
) -> None:
    """Store the answer (None: skipped), end the enrolment questions, and say what follows."""
    svc = services(context)
    async with svc.sessions() as session:
        patient = await find_patient(session, chat_id_of(update))
        if patient is None:
            await say(update, speak(update, None)("Please send /start first."))
            return
        finishing = mode == ENROL and patient.profile_done_at is None
        if chosen is not None:
            patient.contraindications = chosen
        if finishing:
            patient.profile_done_at = svc.clock.now()
        session.add(patient)
        await session.commit()
    t = translator(patient.locale)
    if chosen is None:
        note = t("Skip")
    else:
        note = ", ".join(choice_label(t, c) for c in chosen) or choice_label(t, NONE_OF_THESE)
    await close_buttons(update, note)
    if chosen:
        await say(update, contraindication_warning(t, chosen))
    elif finishing:
        await say(
            update,
            t(
                "Thank you! Your tips now follow your answers. You can change them any time in /settings."
            ),
        )
    else:
        await say(update, t("Saved.") if chosen is not None else t("Nothing changed."))


def contraindication_warning(t: Translator, chosen: list[str]) -> str:
    told = ", ".join(choice_label(t, c) for c in chosen)
    return "\n\n".join(
        [
            t(
                "Thank you for telling me. Please speak with your clinic before you continue with this aftercare plan: some of these tips may not be right for you. I've noted it for your clinic."
            ),
            t("You told me: {conditions}", conditions=told),
        ]
    )


# --- /settings → Skin profile ----------------------------------------------------------------


async def show_profile(update: Update, context: Context) -> None:
    async with services(context).sessions() as session:
        patient = await find_patient(session, chat_id_of(update))
    t = speak(update, patient)
    await close_buttons(update)
    if patient is None:
        await say(update, t("Please send /start first."))
        return
    await say(
        update,
        profile_summary(t, patient),
        [
            [(t("Skin type"), "pf:ask:skin"), (t("Dark patches"), "pf:ask:pig")],
            [(t("Skin conditions"), "pf:ask:ci")],
        ],
    )


def profile_summary(t: Translator, patient: Patient) -> str:
    told = [choice_label(t, c) for c in patient.contraindications if c in CONTRAINDICATIONS]
    return t(
        "Your skin profile:\nSkin type: {skin}\nDarker skin tone or dark patches: {pigmentation}\nSkin conditions: {conditions}\n\nWhat would you like to change?",
        skin=skin_label(t, patient.skin_type) if patient.skin_type else t("not given"),
        pigmentation=t("Yes") if patient.pigmentation_watch else t("No"),
        conditions=", ".join(told) if told else t("none"),
    )


async def ask_one(update: Update, context: Context) -> None:
    """From the profile summary: ask one question again; its answer changes only that."""
    question = button_data(update).removeprefix("pf:ask:")
    async with services(context).sessions() as session:
        patient = await find_patient(session, chat_id_of(update))
    t = speak(update, patient)
    await close_buttons(update)
    if patient is None:
        await say(update, t("Please send /start first."))
    elif question == "skin":
        await say(update, skin_question(t), skin_rows(t, SETTINGS))
    elif question == "pig":
        await say(update, pigmentation_question(t), pigmentation_rows(t, SETTINGS))
    else:
        current = frozenset(patient.contraindications)
        await say(update, conditions_question(t), conditions_rows(t, current, SETTINGS))


HANDLERS = [
    on_button(r"^pf:menu$", show_profile),
    on_button(r"^pf:ask:(skin|pig|ci)$", ask_one),
    on_button(_SKIN.pattern, skin_chosen),
    on_button(_PIGMENTATION.pattern, pigmentation_chosen),
    on_button(_TOGGLE.pattern, condition_toggled),
    on_button(_DONE.pattern, conditions_done),
    on_button(_CONDITIONS_SKIP.pattern, conditions_skipped),
]
