"""Reply markup checks: inline keyboards validated the way Telegram validates them.

Only inline keyboards carry pressable buttons; reply keyboards, keyboard removal and force-reply
markups are accepted and stored as sent.
"""

from __future__ import annotations

from typing import Any

from bot.sandbox.errors import BUTTON_DATA_INVALID, BUTTON_URL_INVALID, bad_request

Button = tuple[str, str | None]
"""A button as the transcript shows it: (label, callback_data or None)."""

MAX_CALLBACK_DATA_BYTES = 64
_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_URL_SCHEMES = ("http://", "https://", "tg://")
_OTHER_MARKUPS = ("keyboard", "remove_keyboard", "force_reply")


def validate_reply_markup(markup: Any) -> dict[str, Any]:
    """Check a reply_markup object; return it unchanged or raise ApiError (400)."""
    if not isinstance(markup, dict):
        raise bad_request("Bad Request: can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        _validate_inline_keyboard(markup["inline_keyboard"])
    elif not any(key in markup for key in _OTHER_MARKUPS):
        raise bad_request("Bad Request: can't parse reply keyboard markup JSON object")
    return markup


def _validate_inline_keyboard(rows: Any) -> None:
    """Rows must be arrays of buttons; each button needs text and exactly one action."""
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request(
            'Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup '
            "should be an Array of Arrays"
        )
    for row in rows:
        for button in row:
            _validate_button(button)


def _validate_button(button: Any) -> None:
    """One inline button: a text label, one action, callback_data of 1-64 bytes, a sane url."""
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise bad_request(
            'Bad Request: can\'t parse inline keyboard button: Field "text" must be of type String'
        )
    actions = [key for key in _ACTIONS if key in button]
    if not actions:
        raise bad_request("Bad Request: text buttons are unallowed in the inline keyboard")
    if "callback_data" in button:
        data = button["callback_data"]
        size = len(data.encode()) if isinstance(data, str) else 0
        if not 1 <= size <= MAX_CALLBACK_DATA_BYTES:
            raise bad_request(BUTTON_DATA_INVALID)
    if "url" in button:
        url = button["url"]
        if not isinstance(url, str) or not url.lower().startswith(_URL_SCHEMES):
            raise bad_request(BUTTON_URL_INVALID)


def inline_buttons(markup: dict[str, Any] | None) -> tuple[tuple[Button, ...], ...]:
    """The inline keyboard's rows as (label, callback_data) pairs; empty without one."""
    if not markup or not isinstance(markup.get("inline_keyboard"), list):
        return ()
    rows: list[tuple[Button, ...]] = []
    for row in markup["inline_keyboard"]:
        rows.append(tuple((str(b["text"]), b.get("callback_data")) for b in row))
    return tuple(rows)


def find_button(
    markup: dict[str, Any] | None, *, label: str | None, callback_data: str | None
) -> Button | None:
    """The first callback button matching ``label`` and/or ``callback_data``, if any."""
    for row in inline_buttons(markup):
        for text, data in row:
            if data is None:
                continue
            if label is not None and text != label:
                continue
            if callback_data is not None and data != callback_data:
                continue
            return (text, data)
    return None
