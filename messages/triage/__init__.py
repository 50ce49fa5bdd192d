"""Symptom triage: rules as data, a pure engine, and a loader that validates the rules."""

from messages.triage.engine import (
    Clarification,
    ClarifyOption,
    Finding,
    Level,
    TriageResult,
    TriageRules,
    decide_clarification,
    triage,
)
from messages.triage.loader import load_rules, parse_rules

__all__ = [
    "Clarification",
    "ClarifyOption",
    "Finding",
    "Level",
    "TriageResult",
    "TriageRules",
    "decide_clarification",
    "load_rules",
    "parse_rules",
    "triage",
]
