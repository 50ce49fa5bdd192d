"""The conventional reminder bot, for comparison: every reminder is a PTB JobQueue
``run_once`` job, held in memory by APScheduler.

    python -m benchmarks.jobqueue_baseline --base-url URL --token TOKEN --jobs N

It polls for updates like any bot, schedules ``N`` reminders (as N enrolments would),
prints ``ready jobs=<jobs it holds>`` and runs until SIGTERM. Started again with
``--jobs 0`` it is the same bot after a restart: whatever it held is gone.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from datetime import timedelta

from telegram.ext import Application, ApplicationBuilder, CallbackContext, ExtBot, JobQueue

STEPS = ("moisturise-morning", "sun-protection", "heat-advice", "redness-checkin")
App = Application[ExtBot[None], CallbackContext[ExtBot[None], dict[str, object], dict[str, object], dict[str, object]], dict[str, object], dict[str, object], dict[str, object], JobQueue[CallbackContext[ExtBot[None], dict[str, object], dict[str, object], dict[str, object]]]]  # fmt: skip


async def remind(context: CallbackContext[ExtBot[None], dict[str, object], dict[str, object], dict[str, object]]) -> None:  # fmt: skip
    """What a due job does: send the step's text to the patient's chat."""
    job = context.job
    assert job is not None
    assert job.chat_id is not None
    await context.bot.send_message(job.chat_id, f"Reminder: {job.data}")


def schedule(app: App, jobs: int, patients: int) -> None:
    """``jobs`` reminders over ``patients`` chats, one a minute from tomorrow on."""
    queue = app.job_queue
    assert queue is not None
    for i in range(jobs):
        queue.run_once(
            remind,
            when=timedelta(days=1, minutes=i),
            chat_id=1 + i % patients,
            data=STEPS[i % len(STEPS)],
            name=f"reminder-{i}",
        )


async def run(base_url: str, token: str, jobs: int, patients: int) -> None:
    app: App = ApplicationBuilder().token(token).base_url(base_url).build()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with app:
        await app.start()
        assert app.updater is not None
        assert app.job_queue is not None
        await app.updater.start_polling(poll_interval=0.0, timeout=10)
        schedule(app, jobs, patients)
        print(f"ready jobs={len(app.job_queue.jobs())}", flush=True)  # noqa: T201
        await stop.wait()
        await app.updater.stop()
        await app.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-url", required=True, help="Bot API base URL (PTB base_url)")
    parser.add_argument("--token", required=True)
    parser.add_argument("--jobs", type=int, default=0)
    parser.add_argument("--patients", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(run(args.base_url, args.token, args.jobs, args.patients))


if __name__ == "__main__":
    main()
