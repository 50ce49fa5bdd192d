"""PTB Application wiring: one place that lists every feature's handlers."""

from __future__ import annotations

from typing import Any

from telegram import BotCommand
from telegram.ext import Application, ApplicationBuilder, BaseRateLimiter

from bot.handlers import (
    actions,
    broadcast,
    checkins,
    console,
    course,
    fallbacks,
    onboarding,
    outdoors,
    privacy,
    private_only,
    profile,
    protocols,
    schedule,
    settings,
    staff,
    staff_tools,
    symptoms,
    treatment,
)
from bot.http import bot_request
from bot.services import SERVICES_KEY, Services
from bot.updates import ChatOrderedUpdates

# The updates the bot has handlers for; Telegram sends no others (polls, reactions, inline
# queries...), which also keeps a kind the library cannot parse from stalling polling.
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]

COMMANDS = [
    BotCommand("plan", "What's coming next"),
    BotCommand("treated", "When were you treated?"),
    BotCommand("settings", "Timezone, quiet hours, language"),
    BotCommand("outside", "I'm going outside: SPF reminders"),
    BotCommand("inside", "I'm back inside"),
    BotCommand("stop", "Stop reminders"),
    BotCommand("resume", "Start reminders again"),
    BotCommand("help", "What I can do"),
]


def build_application(
    *,
    token: str,
    base_url: str | None,
    services: Services,
    rate_limiter: BaseRateLimiter[Any],
) -> Application[Any, Any, Any, Any, Any, Any]:
    builder: ApplicationBuilder[Any, Any, Any, Any, Any, Any] = (
        ApplicationBuilder()
        .token(token)
        .rate_limiter(rate_limiter)
        .job_queue(None)
        # PTB's own pool sizes (256 for replies, 1 for getUpdates), one TLS context.
        .request(bot_request(256))
        .get_updates_request(bot_request())
        .concurrent_updates(ChatOrderedUpdates())
    )
    if base_url:
        builder = builder.base_url(base_url).base_file_url(
            base_url.removesuffix("/bot") + "/file/bot"
        )
    application = builder.build()
    application.bot_data[SERVICES_KEY] = services
    # Order matters: specific features first, the catch-alls of `fallbacks` last.
    for module in (
        onboarding,
        treatment,
        schedule,
        settings,
        checkins,
        profile,
        outdoors,
        actions,
        course,
        staff,
        console,
        staff_tools,
        broadcast,
        protocols,
        symptoms,
        privacy,
        fallbacks,
    ):
        application.add_handlers(module.HANDLERS)
    application.add_handler(private_only.HANDLER, group=private_only.GROUP)
    application.add_error_handler(fallbacks.on_error)
    return application
