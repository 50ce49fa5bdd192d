"""The sandbox in a process of its own, so that the bench's figures are our process's.

``python -m bot.bench.sandbox_process --users N [--no-limits]`` serves a sandbox whose
users 1..N have opened the bot, prints its URL on a line, and runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from bot.sandbox.limits import Limits
from bot.sandbox.server import Sandbox

TOKEN = "123456:BENCH-TOKEN-for-the-sandbox"


@dataclass(frozen=True)
class RemoteSandbox:
    """A running sandbox process: where it is, and its counters."""

    url: str
    pid: int

    def cpu_seconds(self) -> float:
        """CPU time the sandbox process has used so far (user + system)."""
        return process_cpu_seconds(self.pid)

    @property
    def base_url(self) -> str:
        return self.url + "/bot"

    def stats(self) -> dict[str, Any]:
        answer = httpx.get(self.url + "/control/stats", timeout=10)
        answer.raise_for_status()
        body = answer.json()
        return dict(body.get("result", body))

    def sent_messages(self) -> int:
        return int(self.stats()["requests"].get("sendMessage", 0))

    def too_many_requests(self) -> int:
        return int(self.stats()["too_many_requests"])

    def delay_sends(self, seconds: float) -> None:
        """Answer every sendMessage ``seconds`` late from now on (0: clear the delay), as a
        real network's round trip to the Bot API does."""
        httpx.delete(self.url + "/control/faults", timeout=10).raise_for_status()
        if seconds > 0:
            fault = {"method": "sendMessage", "kind": "delay", "count": None, "delay": seconds}
            httpx.post(self.url + "/control/faults", json=fault, timeout=10).raise_for_status()


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc (Linux)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def sandbox_process(users: int, *, limits: bool) -> Iterator[RemoteSandbox]:
    """Start the sandbox process; stop it (SIGTERM, then SIGKILL) on leaving."""
    command = [sys.executable, "-m", "bot.bench.sandbox_process", "--users", str(users)]
    if not limits:
        command.append("--no-limits")
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        line = child.stdout.readline().strip()
        if not line.startswith("http://"):
            raise RuntimeError(f"the sandbox process did not start (said {line!r})")
        yield RemoteSandbox(line, child.pid)
    finally:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


async def _serve(users: int, limits: Limits) -> None:
    sandbox = Sandbox(limits=limits)
    for chat_id in range(1, users + 1):
        sandbox.world.user(chat_id)  # every patient has opened the bot before
    await sandbox.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print(sandbox.url, flush=True)  # noqa: T201  (the parent reads it)
    try:
        await stop.wait()
    finally:
        await sandbox.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=0)
    parser.add_argument("--no-limits", action="store_true")
    args = parser.parse_args(argv)
    limits = Limits.off() if args.no_limits else Limits()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.users, limits))


if __name__ == "__main__":
    main()
