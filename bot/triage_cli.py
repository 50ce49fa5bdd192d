"""``aftercare triage``: one message, a JSON-lines batch, or an evaluation of a labelled set.

Message text is printed back only as the command's own output, never logged.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from typing import Annotated, Any, TextIO

import typer

from messages.triage import Level, TriageResult, TriageRules, load_rules, triage
from messages.triage.evaluation import Scorecard, Scored, format_scorecard
from schedules.errors import AftercareError


def result_json(result: TriageResult) -> dict[str, Any]:
    return {
        "level": result.level.value,
        "findings": [
            {"rule": f.rule, "level": f.level.value, "matched": f.matched} for f in result.findings
        ],
        "reply": result.reply,
        "clarify": None
        if result.clarify is None
        else {
            "question": result.clarify.question,
            "options": {o.key: o.label for o in result.clarify.options},
        },
    }


def _lines(stream: TextIO) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as error:
            raise typer.BadParameter(f"line {number}: not JSON ({error.msg})") from error
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise typer.BadParameter(f'line {number}: expected an object with "text"')
        if not isinstance(item.get("days"), int):
            raise typer.BadParameter(f'line {number}: expected an integer "days"')
        yield number, item


def run_batch(items: Iterable[tuple[int, dict[str, Any]]], rules: TriageRules) -> Iterator[str]:
    for _, item in items:
        result = triage(item["text"], item["days"], rules, str(item.get("locale", "en")))
        yield json.dumps(result_json(result), ensure_ascii=False)


def evaluate(items: Iterable[tuple[int, dict[str, Any]]], rules: TriageRules) -> dict[str, Any]:
    """The scorecard of a labelled set (``messages.triage.evaluation``) as a dict."""
    scored = []
    for number, item in items:
        try:
            wanted = Level(item["level"])
        except (KeyError, ValueError) as error:
            raise typer.BadParameter(f'line {number}: expected a "level"') from error
        got = triage(item["text"], item["days"], rules, str(item.get("locale", "en")))
        scored.append(Scored(wanted, got))
    return Scorecard.of(scored).as_dict()


def triage_command(
    text: Annotated[str | None, typer.Argument(help="The patient's message")] = None,
    days: Annotated[int, typer.Option(help="Days since treatment", min=0)] = 0,
    locale: Annotated[str, typer.Option(help="en, es, de or ru")] = "en",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    jsonl: Annotated[
        str | None, typer.Option(help='JSON lines of {"text","days"[,"locale"]}; - for stdin')
    ] = None,
    evaluate_set: Annotated[
        bool, typer.Option("--evaluate", help="With --jsonl: lines carry a level; score them")
    ] = False,
    rules_file: Annotated[str | None, typer.Option(help="Another rules file")] = None,
) -> None:
    """Triage a symptom message (or a JSON-lines batch) the way the bot would."""
    try:
        rules = load_rules(rules_file)
    except AftercareError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from error
    if jsonl is not None:
        _batch(jsonl, rules, evaluate_set=evaluate_set, as_json=as_json)
        return
    if text is None:
        raise typer.BadParameter("give a message, or --jsonl FILE")
    result = triage(text, days, rules, locale)
    if as_json:
        typer.echo(json.dumps(result_json(result), ensure_ascii=False))
        return
    typer.echo(f"level: {result.level.value}")
    for finding in result.findings:
        typer.echo(f"  - {finding.rule} ({finding.level.value}): {finding.matched}")
    typer.echo(f"reply: {result.reply}")
    if result.clarify is not None:
        options = ", ".join(f"[{o.label}]" for o in result.clarify.options)
        typer.echo(f"asks: {result.clarify.question} {options}")


def _batch(path: str, rules: TriageRules, *, evaluate_set: bool, as_json: bool) -> None:
    try:
        stream = sys.stdin if path == "-" else open(path, encoding="utf-8")  # noqa: SIM115
    except OSError as error:
        raise typer.BadParameter(f"{path}: cannot read the file: {error}") from error
    with stream:
        if evaluate_set:
            report = evaluate(_lines(stream), rules)
            typer.echo(json.dumps(report) if as_json else format_scorecard(report))
            return
        out = sys.stdout
        for line in run_batch(_lines(stream), rules):
            out.write(line + "\n")
        out.flush()
