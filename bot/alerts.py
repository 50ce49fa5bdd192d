"""Alerting clinic staff about open escalations, until someone acknowledges.

Runs in the dispatcher's loop: claims the reports whose alert is due, sends each
active staff member an alert with Acknowledge and Close buttons, and records the
messages so that a staff reply to one reaches the patient. The findings are named
with the clinic-facing labels of the triage rules and the protocol's answers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from messages.formatting import local_moment
from messages.i18n import Translator, translator
from messages.triage import TriageRules
from schedules import escalations
from schedules.catalog import ProtocolCatalog
from schedules.clock import Clock
from schedules.db import SessionFactory
from schedules.models import Clinic, SymptomReport
from schedules.outbound import Button, Lane, Outbound, RateLimited, Sender, Sent
from schedules.team import staff_chats

log = logging.getLogger(__name__)
RETRY_UNALERTED = timedelta(minutes=1)  # nobody to alert, or sending failed


@dataclass(frozen=True)
class AlertConfig:
    lease: timedelta = timedelta(seconds=60)
    staff_locale: str = "en"


class Alerter:
    def __init__(
        self,
        sessions: SessionFactory,
        clock: Clock,
        sender: Sender,
        rules: TriageRules,
        catalog: ProtocolCatalog,
        config: AlertConfig | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._sender = sender
        self._rules = rules
        self._catalog = catalog
        self._config = config or AlertConfig()

    async def run_due(self) -> int:
        """Alert every report that is due; returns how many reports were alerted."""
        now = self._clock.now()
        async with self._sessions() as session:
            due = await escalations.claim_due_alerts(session, now=now, lease=self._config.lease)
        alerted = 0
        for report in due:
            alerted += await self._alert(report)
        return alerted

    async def next_due(self) -> datetime | None:
        async with self._sessions() as session:
            return await escalations.next_alert_due(session)

    async def _alert(self, report: SymptomReport) -> int:
        assert report.id is not None
        async with self._sessions() as session:
            clinic = await session.get(Clinic, report.clinic_id) if report.clinic_id else None
            chats = await staff_chats(session, report.clinic_id)
        labels = await finding_labels(report, self._rules, self._catalog, self._config.staff_locale)
        t = translator(self._config.staff_locale)
        text = alert_text(report, labels, clinic, t, realert=report.alerts_sent > 0)
        buttons = (
            (
                Button(t("Acknowledge"), f"esc:ack:{report.id}"),
                Button(t("Close"), f"esc:close:{report.id}"),
            ),
        )
        sent: list[tuple[int, int]] = []
        for chat_id in chats:
            outcome = await self._sender.send(
                Outbound(chat_id, text, buttons, photo=report.photo_file_id, lane=Lane.SAFETY)
            )
            if isinstance(outcome, Sent):
                sent.append((chat_id, outcome.message_id))
            elif isinstance(outcome, RateLimited):
                break
        now = self._clock.now()
        async with self._sessions() as session:
            if sent:
                await escalations.record_alerts(
                    session, report.id, sent, now=now, alerted_level=report.level
                )
            else:
                # Counted, never logged with content: report id and level only.
                log.warning("escalation %s (%s) reached no staff", report.id, report.level)
                await escalations.release_alert(session, report.id, now + RETRY_UNALERTED)
        return 1 if sent else 0


async def finding_labels(
    report: SymptomReport, rules: TriageRules, catalog: ProtocolCatalog, locale: str = "en"
) -> list[str]:
    """Clinic-facing names of the findings, from the data: rule labels, answer labels."""
    texts = rules.texts.get(locale) or rules.texts[rules.fallback_locale]
    options = {option.key: option.label for option in texts.options}
    answers: dict[str, str] = {}
    if report.treatment_id is not None and any(f.startswith("check:") for f in report.findings):
        spec = await catalog.spec_for_treatment(report.treatment_id)
        for step in spec.steps:
            for answer in step.answers or ():
                label = answer.text.get(locale) or answer.text[spec.base_locale]
                answers[f"check:{step.id}:{answer.id}"] = label
    labels = []
    for finding in report.findings:
        rule = rules.rules.get(finding)
        if rule is not None:
            labels.append(rule.staff.get(locale) or rule.staff.get(rules.fallback_locale, rule.id))
        elif finding.startswith("answer:"):
            labels.append(options.get(finding.partition(":")[2], finding))
        elif finding.startswith("reader:"):  # raised by the model, not by a rule
            labels.append(texts.unrecognised)
        else:
            labels.append(answers.get(finding, finding))
    return labels


def level_headline(level: str, t: Translator) -> str:
    if level == "emergency":
        return t("🚨 EMERGENCY")
    if level == "urgent":
        return t("⚠️ URGENT: see today")
    return t("📝 For review")


def alert_text(
    report: SymptomReport,
    labels: list[str],
    clinic: Clinic | None,
    t: Translator,
    *,
    realert: bool = False,
) -> str:
    """The alert a staff member reads: what, who, when, what the patient was told."""
    tz = clinic.timezone if clinic else "UTC"
    headline = level_headline(report.level, t)
    repeat = t(" (alert {n}, not yet acknowledged)").format(n=report.alerts_sent + 1)
    day = (
        t("day {day} after treatment").format(day=report.day)
        if report.day is not None
        else t("no treatment date")
    )
    lines = [
        f"{headline} · #{report.id}{repeat if realert else ''}",
        t("Patient #{patient} · {day} · {when}").format(
            patient=report.patient_id, day=day, when=local_moment(report.created_at, tz, "en")
        ),
    ]
    if report.text:
        lines.append(f"“{report.text}”")
    if labels:
        lines.append(t("Findings: {labels}").format(labels="; ".join(labels)))
    lines.append(_told(report.level, t))
    lines.append(t("Reply to this message to write to the patient."))
    return "\n".join(lines)


def _told(level: str, t: Translator) -> str:
    if level == "emergency":
        return t("The patient was told to call emergency services now.")
    if level == "urgent":
        return t("The patient was told the clinic will contact them today.")
    return t("The patient was told the clinic will review this.")
