"""``aftercare triage``: one message, a batch in order, and the evaluation of the labelled set."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from bot.cli import app

LABELLED = Path(__file__).parents[1] / "data" / "triage_labelled.jsonl"
runner = CliRunner()


def test_it_prints_one_message_as_json() -> None:
    result = runner.invoke(app, ["triage", "--days", "4", "yellow crust and fever", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["level"] == "urgent"
    assert {f["rule"] for f in out["findings"]} == {"infection", "fever"}
    assert out["reply"]


def test_it_prints_a_readable_answer() -> None:
    result = runner.invoke(app, ["triage", "--days", "1", "--locale", "de", "juckt und rot"])
    assert result.exit_code == 0, result.output
    assert "level: expected" in result.output


def test_a_batch_comes_back_in_order(tmp_path: Path) -> None:
    lines = [
        {"text": "I can't breathe", "days": 0},
        {"text": "thanks!", "days": 3},
        {"text": "kein Fieber", "days": 3, "locale": "de"},
    ]
    batch = tmp_path / "batch.jsonl"
    batch.write_text("\n".join(json.dumps(x) for x in lines), encoding="utf-8")
    result = runner.invoke(app, ["triage", "--jsonl", str(batch)])
    assert result.exit_code == 0, result.output
    levels = [json.loads(line)["level"] for line in result.output.splitlines()]
    assert levels == ["emergency", "not_a_symptom", "not_a_symptom"]


def test_it_evaluates_the_labelled_set() -> None:
    result = runner.invoke(app, ["triage", "--jsonl", str(LABELLED), "--evaluate", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["total"] >= 200
    assert report["accuracy"] >= 0.9
    assert report["recall"]["emergency"] == 1.0
    assert report["recall"]["urgent"] == 1.0
    table = runner.invoke(app, ["triage", "--jsonl", str(LABELLED), "--evaluate"])
    assert "confusion" in table.output


def test_a_bad_line_is_named(tmp_path: Path) -> None:
    batch = tmp_path / "bad.jsonl"
    batch.write_text('{"text": "red"}\n', encoding="utf-8")
    result = runner.invoke(app, ["triage", "--jsonl", str(batch)])
    assert result.exit_code != 0
    assert "line 1" in result.output
