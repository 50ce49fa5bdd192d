"""Run every figure in order, each with the sizes of a full or a ``--quick`` run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.bench import at_limit, latency, memory, safety, scale, throughput, triage
from bot.bench.databases import BACKENDS
from bot.bench.figures import Report
from bot.bench.machine import describe
from bot.bench.sandbox_process import sandbox_process


@dataclass(frozen=True)
class Sizes:
    dispatch: int  # due reminders sent per backend
    recipients: int  # broadcast at the limit
    reminders_meanwhile: int
    round_trips: tuple[float, ...]  # seconds the sandbox takes to answer a sendMessage
    latency_rate: float  # reminders a second, below the limit
    latency_seconds: float
    scale: tuple[int, ...]  # pending reminders at which a wake-up is timed
    enrolments: int
    memory: int  # scheduled reminders held by each bot
    settle: float  # seconds a started bot is left alone before its RSS is read
    triage_seconds: float
    safety: tuple[int, int, int]  # broadcast recipients, reminders overdue, button taps


ROUND_TRIPS = (0.0, 0.05, 0.1, 0.15)  # real networks: 20-150 ms to the Bot API
FULL = Sizes(
    5000,
    600,
    20,
    ROUND_TRIPS,
    20.0,
    30.0,
    (10_000, 100_000, 1_000_000),
    300,
    100_000,
    2.0,
    2.0,
    (5000, 10_000, 100),
)
QUICK = Sizes(
    150, 90, 5, (0.0, 0.15), 20.0, 2.0, (1_000, 5_000), 10, 2_000, 0.5, 0.1, (200, 400, 10)
)

Progress = Callable[[str], None]


async def run_all(sizes: Sizes, *, quick: bool, progress: Progress) -> Report:
    report = Report(await describe(), quick)
    backends = [
        b for b in BACKENDS if b != "postgres" or report.machine["postgres"] != "unreachable"
    ]
    if len(backends) < len(BACKENDS):
        report.notes.append("Postgres was unreachable: its figures are missing from this run.")
    await _dispatch(report, sizes, backends, progress)
    await _live(report, sizes, progress)
    await _scale(report, sizes, backends, progress)
    progress("memory: baseline and daemon, each started twice")
    with sandbox_process(memory.PATIENTS, limits=False) as sandbox:
        report.add(
            *memory.figures(await memory.measure(sandbox, sizes.memory, settle=sizes.settle))
        )
    progress("triage")
    report.add(triage.model_memory())
    for name in triage.SETS:
        report.add(*triage.figures(triage.measure(name, sizes.triage_seconds)))
    recipients, overdue, taps = sizes.safety
    for backend in backends:
        progress(f"safety path on {backend}: {recipients} recipients, {overdue} overdue")
        with sandbox_process(recipients + 1, limits=True) as sandbox:
            result = await safety.measure(
                sandbox, recipients, overdue, taps, ROUND_TRIPS[-1], backend
            )
            report.add(*safety.figures(result))
    report.notes.extend(_notes(sizes))
    return report


async def _dispatch(report: Report, sizes: Sizes, backends: list[str], progress: Progress) -> None:
    with sandbox_process(sizes.dispatch, limits=False) as sandbox:
        for backend in backends:
            progress(f"dispatch throughput on {backend}: {sizes.dispatch} reminders")
            report.add(
                *throughput.figures(await throughput.measure(backend, sandbox, sizes.dispatch))
            )


async def _live(report: Report, sizes: Sizes, progress: Progress) -> None:
    for round_trip in sizes.round_trips:
        progress(
            f"at the limit, round trip {round_trip * 1000:.0f} ms: {sizes.recipients} "
            f"recipients + {sizes.reminders_meanwhile} reminders"
        )
        with sandbox_process(sizes.recipients, limits=True) as sandbox:
            result = await at_limit.measure(
                sandbox, sizes.recipients, sizes.reminders_meanwhile, round_trip
            )
            report.add(*at_limit.figures(result))
    progress(f"latency: {sizes.latency_rate:.0f}/s for {sizes.latency_seconds:.0f} s")
    count = round(sizes.latency_rate * sizes.latency_seconds)
    with sandbox_process(count, limits=True) as sandbox:
        result_latency = await latency.measure(sandbox, sizes.latency_rate, sizes.latency_seconds)
        report.add(*latency.figures(result_latency))


async def _scale(report: Report, sizes: Sizes, backends: list[str], progress: Progress) -> None:
    for backend in backends:
        progress(f"scale on {backend}: {', '.join(f'{s:,}' for s in sizes.scale)} pending")
        result = await scale.measure(backend, list(sizes.scale))
        report.add(*scale.figures(result))
        report.details[
            f"Wake-up statements on {backend} at {result.wakes[-1].pending:,} pending"
        ] = scale.describe_plans(result)
        progress(f"enrolments on {backend}: {sizes.enrolments}")
        report.add(
            *scale.enrolment_figures(await scale.measure_enrolments(backend, sizes.enrolments))
        )
    report.add(scale.planner_figure(sizes.enrolments))


def _notes(sizes: Sizes) -> list[str]:
    return [
        "The fake Telegram (the sandbox) runs in a process of its own for every figure, so the "
        "CPU it uses is not counted as ours; on a 2-core machine the two still share the cores.",
        "Throughput: the sandbox's limits are off and the pacer's budget is set beyond reach; "
        "the dispatcher, its batch size, lease and concurrency are the daemon's defaults.",
        f"At the limit: the real daemon (Dispatcher and Broadcaster on one Pacer, budget "
        f"{at_limit.LIMIT:.0f}/s) on SQLite; the sandbox enforces 30/s per bot and 1/s per chat "
        "(burst 3) and answers every sendMessage after a fixed delay, the round trip (its "
        "delay fault). Rate = messages sent ÷ time from the first to the last send.",
        f"Latency: the real daemon, woken by its own alarm, default pacer budget; "
        f"{sizes.latency_rate:.0f} reminders a second fall due, each to its own chat.",
        "Safety path: the real daemon polling for updates, at 30/s with a 150 ms round trip; "
        "a broadcast to every patient and a backlog of reminders 30 minutes overdue are "
        "sending when some patients press the first button of their reminder at once and "
        "then another writes an emergency. Times are from that message reaching the "
        "sandbox to the answer, and the first staff alert, being recorded there.",
        "Figures are from one run on a shared machine (other jobs may have been running): "
        "expect noise of ±20 % on the rates, more on the millisecond timings.",
    ]
