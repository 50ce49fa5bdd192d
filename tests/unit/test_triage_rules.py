"""The rules loader: every problem names the file, the rule and the field."""

from __future__ import annotations

from importlib import resources

import pytest
import yaml

from messages.triage import parse_rules
from schedules.errors import RulesError

BUNDLED = resources.files("messages").joinpath("triage", "rules.yaml").read_text(encoding="utf-8")


def broken(change: object) -> str:
    doc = yaml.safe_load(BUNDLED)
    assert callable(change)
    change(doc)
    return yaml.safe_dump(doc, allow_unicode=True)


def test_the_bundled_rules_load() -> None:
    assert parse_rules(BUNDLED).rules


def test_a_bad_level_names_file_rule_and_field() -> None:
    def bad(doc: dict[str, list[dict[str, object]]]) -> None:
        doc["rules"][1]["level"] = "dire"

    with pytest.raises(
        RulesError, match=r'my.yaml: rule "angioedema" \(rules\[1\]\), field "level"'
    ):
        parse_rules(broken(bad), "my.yaml")


def test_a_rule_missing_a_locale_is_named() -> None:
    def bad(doc: dict[str, list[dict[str, dict[str, object]]]]) -> None:
        del doc["rules"][0]["terms"]["ru"]

    with pytest.raises(
        RulesError, match=r'my.yaml: rule "airway" \(rules\[0\]\), field "terms.ru"'
    ):
        parse_rules(broken(bad), "my.yaml")


def test_a_staff_label_missing_a_locale_is_named() -> None:
    def bad(doc: dict[str, list[dict[str, dict[str, object]]]]) -> None:
        del doc["rules"][3]["staff"]["de"]

    with pytest.raises(RulesError, match=r'rule "collapse" \(rules\[3\]\), field "staff"'):
        parse_rules(broken(bad), "my.yaml")


def test_a_missing_basis_is_named() -> None:
    def bad(doc: dict[str, list[dict[str, object]]]) -> None:
        del doc["rules"][2]["basis"]

    with pytest.raises(RulesError, match=r'rule "vision" \(rules\[2\]\), field "basis"'):
        parse_rules(broken(bad), "my.yaml")


def test_duplicate_ids_and_bad_yaml_are_reported() -> None:
    def bad(doc: dict[str, list[dict[str, object]]]) -> None:
        doc["rules"][1]["id"] = "airway"

    with pytest.raises(RulesError, match=r'field "id": duplicate rule id'):
        parse_rules(broken(bad), "my.yaml")
    with pytest.raises(RulesError, match=r"my\.yaml: not valid YAML"):
        parse_rules("rules: [", "my.yaml")
