"""``aftercare bench``: measure the figures of issue 8 and print them beside their targets."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

DEFAULT_OUTPUT = Path("docs/benchmarks.md")


def bench_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")] = False,
    quick: Annotated[
        bool, typer.Option(help="Smaller sizes: a smoke run in seconds, not minutes")
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option(help="Write the Markdown report here (a full run: docs/benchmarks.md)"),
    ] = None,
) -> None:
    """Benchmark dispatch, rate limits, latency, scale, memory and triage on this machine."""
    from bot.bench import report as render
    from bot.bench.runner import FULL, QUICK, run_all

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its lines carry the bot token
    status, started = Console(stderr=True), time.perf_counter()

    def progress(step: str) -> None:
        status.print(f"[{time.perf_counter() - started:5.0f} s] {step}", markup=False)

    result = asyncio.run(run_all(QUICK if quick else FULL, quick=quick, progress=progress))
    if as_json:
        typer.echo(render.as_json(result))
    else:
        render.print_table(result, Console())
    target = output if output is not None or quick else DEFAULT_OUTPUT
    if target is not None:
        command = "aftercare bench --quick" if quick else "aftercare bench"
        target.write_text(render.markdown(result, command=command), encoding="utf-8")
        status.print(f"wrote {target}")
