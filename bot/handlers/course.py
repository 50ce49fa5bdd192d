"""Treatment courses: "treatment 2 of 3" in the patient's words, and /settings → course.

A treatment follows one of the protocol's courses: the default, unless the clinic's
link named another (``/start course-collagen``) or the patient chose one here. Choosing
changes the current treatment's course (its session number stays) and re-plans it.
"""

from __future__ import annotations

from telegram import Update

from bot.handlers.common import (
    Context,
    button_data,
    chat_id_of,
    close_buttons,
    find_patient,
    on_button,
    patient_translator,
    say,
)
from bot.handlers.planning import replan_and_report
from bot.services import services
from messages.i18n import Translator, translator
from schedules.courses import course_name, progress
from schedules.models import Treatment
from schedules.plans import active_treatment
from schedules.protocol import Course, ProtocolSpec

CHOICE_PREFIX = "crs:"
CHECK = "✓"


def progress_text(t: Translator, spec: ProtocolSpec, treatment: Treatment) -> str | None:
    """ "Collagen induction: treatment 2 of 3." — None when it would say nothing new (the
    first session of an open-ended course, or a protocol without courses)."""
    where = progress(spec, treatment.course, treatment.course_number)
    if where is None:
        return None
    name = course_name(spec, where.course_id, t.locale)
    if where.total is None:
        if where.number == 1:
            return None
        return t("{course}: treatment {number}.", course=name, number=where.number)
    if where.number > where.total:
        return t(
            "{course}: treatment {number} (the course has {total}).",
            course=name,
            number=where.number,
            total=where.total,
        )
    if where.number == where.total:
        return t(
            "{course}: treatment {number} of {total}, the last of your course.",
            course=name,
            number=where.number,
            total=where.total,
        )
    return t(
        "{course}: treatment {number} of {total}.",
        course=name,
        number=where.number,
        total=where.total,
    )


def weeks_text(course: Course) -> str:
    low, high = course.interval_weeks
    return str(low) if low == high else f"{low}–{high}"


def describe(t: Translator, spec: ProtocolSpec, course_id: str, course: Course) -> str:
    name = course_name(spec, course_id, t.locale)
    if course.sessions is None:
        return t("{course}: a session every {weeks} weeks", course=name, weeks=weeks_text(course))
    return t(
        "{course}: {sessions} treatments, {weeks} weeks apart",
        course=name,
        sessions=course.sessions,
        weeks=weeks_text(course),
    )


async def ask_course(update: Update, context: Context, t: Translator) -> None:
    """The course choice from /settings: the protocol's courses, the current one ticked."""
    svc = services(context)
    async with svc.sessions() as session:
        patient = await find_patient(session, chat_id_of(update))
        treatment = await active_treatment(session, patient.id) if patient and patient.id else None
    if treatment is None:
        await say(update, t("Tell me when you were treated first: /treated"))
        return
    spec = await svc.catalog.spec(treatment.protocol_id)
    current = spec.course_for(treatment.course)
    if not spec.courses or current is None:
        await say(update, t("Your clinic's protocol has only one course."))
        return
    lines = [t("Which treatment course are you on? Your clinic can tell you.")]
    lines += [f"• {describe(t, spec, cid, course)}" for cid, course in spec.courses.items()]
    rows = [
        [
            (
                f"{course_name(spec, cid, t.locale)} {CHECK}"
                if cid == current[0]
                else course_name(spec, cid, t.locale),
                f"{CHOICE_PREFIX}{cid}",
            )
        ]
        for cid in spec.courses
    ]
    await say(update, "\n".join(lines), rows)


async def course_chosen(update: Update, context: Context) -> None:
    svc = services(context)
    course_id = button_data(update).removeprefix(CHOICE_PREFIX)
    async with svc.sessions() as session:
        patient = await find_patient(session, chat_id_of(update))
        treatment = await active_treatment(session, patient.id) if patient and patient.id else None
    spec = await svc.catalog.spec(treatment.protocol_id) if treatment else None
    if (
        patient is None
        or treatment is None
        or spec is None
        or course_id not in (spec.courses or {})
    ):
        t = await patient_translator(update, context)
        await say(update, t("That option is no longer available."))
        return
    async with svc.sessions() as session:
        treatment.course = course_id
        session.add(treatment)
        await session.commit()
    t = translator(patient.locale)
    name = course_name(spec, course_id, t.locale)
    await close_buttons(update, name)
    line = progress_text(t, spec, treatment)
    await say(
        update, t("Your course is now: {course}.", course=name) + (f"\n{line}" if line else "")
    )
    await replan_and_report(update, context, t)


HANDLERS = [
    on_button(rf"^{CHOICE_PREFIX}[a-z0-9-]{{1,32}}$", course_chosen),
]
