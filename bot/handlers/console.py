"""``/console``: a staff member gets a single-use link that signs them in to the web console."""

from __future__ import annotations

from telegram import LinkPreviewOptions, Update
from telegram.ext import CommandHandler

from bot.handlers.common import Context, chat_id_of, say
from bot.services import services
from messages.i18n import pick_locale, translator
from schedules.console_links import LINK_LIFETIME, create_link
from schedules.team import staff_by_user

t = translator("en")  # staff read English until clinics choose a language


async def console_link(update: Update, context: Context) -> None:
    svc = services(context)
    base = svc.console_url()
    async with svc.sessions() as session:
        member = await staff_by_user(session, chat_id_of(update))
        if member is None or member.id is None:
            await say(update, t("This command is for clinic staff."))
            return
        if base is None:
            await say(update, t("The web console is not enabled on this server."))
            return
        secret = await create_link(session, member.id, svc.clock.now())
    minutes = int(LINK_LIFETIME.total_seconds() // 60)
    text = t("Your sign-in link to the clinic console (single use, valid {minutes} minutes):")
    chat = update.effective_chat
    if chat is not None:  # no preview: a preview fetch must not be the one use
        await chat.send_message(
            f"{text.format(minutes=minutes)}\n{base}/login/{secret}?lang={_language(update)}",
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )


def _language(update: Update) -> str:
    """The console opens in the staff member's Telegram language (they can switch)."""
    user = update.effective_user
    return pick_locale(user.language_code if user else None)


HANDLERS = [CommandHandler("console", console_link)]
