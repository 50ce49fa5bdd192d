"""Hypothesis strategies for hostile Telegram updates, each valid for the Bot API (PTB parses
every one) but otherwise anything: odd text, odd chats, odd kinds, odd button data.

An :class:`Action` is one thing that arrives at the bot. ``kind`` says what the test may
expect of the answer:

* ``"private_text"``: typed text in a private chat: never silence, always an answer there.
* ``"private_other"``: a sticker, a voice note, a location... in a private chat: an answer
  there that says the bot can only read text.
* ``"press"``: a button press with any data in a private chat: answered exactly once.
* ``"elsewhere"``: a group, supergroup or channel update, or an edit: no failure, nothing
  more is promised (see the xfail tests for what should be).
* ``"silent"``: an update kind the bot has no business with (polls, inline queries,
  membership changes, reactions...): nothing is said to anyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from hypothesis import strategies as st
from telegram import Update

from bot.sandbox.state import command_entities

ActionKind = Literal["private_text", "private_other", "press", "elsewhere", "silent"]
DATE = 1_774_602_000  # 27 March 2026, 09:00 UTC: the world's start

COMMANDS = [
    "start", "help", "plan", "treated", "settings", "outside", "inside", "stop", "resume",
    "export", "forget", "staff", "escalations", "invite", "team", "link", "broadcast",
    "patients", "stats", "versions", "rollback",
]  # fmt: skip
CALLBACK_PREFIXES = [
    "lang:", "consent", "cc:", "tz:", "tzok:", "tzagain", "trnow", "trday:", "trat:today:",
    "trat:yesterday:", "trtype", "trok:", "trnew:", "trfix:", "trsoon:", "trkeep", "stop:",
    "set:", "qh:", "pf:menu", "pf:ask:", "pf:skin:", "pf:pig:", "pf:ct:", "pf:cd:", "pf:cs:",
    "ans:", "tri:", "act:", "esc:", "team:rm:", "bc:", "pv:forget:", "proto:pub:",
    "proto:def:", "proto:no:", "crs:", "outdoors:inside",
]  # fmt: skip
LANGUAGE_CODES = [None, "en", "es", "de", "ru", "ar", "he", "zh-hans", "pt-BR", "xx", "", "e" * 40]

# Awkward characters: right-to-left marks and scripts, zero-width joiners and spaces, a
# byte-order mark, combining marks, emoji with skin tones and ZWJ sequences, control
# characters (NUL too: JSON allows \u0000), and lone surrogates (JSON allows \ud800).
AWKWARD = [
    "\u202e", "\u202d", "\u200f", "\u200e", "\u200b", "\u200c", "\u200d", "\ufeff", "\u2066",
    "שלום", "مرحبا", "\u0301", "\u0345", "👩‍👩‍👧‍👦", "👍🏿", "🏳️‍🌈", "🇬🇧", "\x00", "\x1b", "\u2028",
    "\ud800", "\udfff", "\U0010ffff", "𝕳", "Ω", "ǅ", "ﷺ", "꧅", "%s", "{0}", "<b>", "&amp;", "*_`[",
]  # fmt: skip

# Known bug (see test_hostile_input.py, "lone-surrogate"): a patient's text with a lone
# surrogate cannot be stored. Set this to True once fixed, to let the properties send them.
SEND_LONE_SURROGATES = False


def _lone_surrogate(piece: str) -> bool:
    return len(piece) == 1 and 0xD800 <= ord(piece) <= 0xDFFF


_EXCLUDED: tuple[Literal["Cs"], ...] = () if SEND_LONE_SURROGATES else ("Cs",)
_pieces = st.characters(codec=None, exclude_categories=_EXCLUDED) | st.sampled_from(
    [a for a in AWKWARD if SEND_LONE_SURROGATES or not _lone_surrogate(a)]
)


def _strings(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    return st.lists(_pieces, min_size=min_size, max_size=max_size).map("".join)


_short_text = _strings(1, 60)
_huge_text = st.builds(
    lambda unit, size: (unit * size)[:size],
    st.sampled_from(["ä", "a", "👍🏿", "\u200b", "x y ", "שלום "]),
    st.integers(4000, 9000),
)
_command_text = st.builds(
    lambda name, target, args: f"/{name}{target}{args}",
    st.sampled_from(COMMANDS) | st.from_regex(r"[A-Za-z0-9_]{1,70}", fullmatch=True),
    st.sampled_from(["", "@aftercare_sandbox_bot", "@another_bot"]),
    st.sampled_from(["", " ", " 1", " -1", " 99999999999999999999", " x y z"]) | _short_text,
)
texts = (_short_text | _huge_text | _command_text).filter(lambda text: text.strip() != "")


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    update: dict[str, Any]
    chat_id: int | None = None

    def __repr__(self) -> str:  # hypothesis prints falsifying examples with this
        return f"Action({self.kind!r}, {self.update!r})"


def _user(user_id: int, name: str, language: str | None) -> dict[str, Any]:
    user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": name}
    if language is not None:
        user["language_code"] = language
    return user


ENROLLED = 31_000  # a patient: their text goes to triage and symptom reports
PRESSERS = [ENROLLED, 31_001, 31_002, 31_003]  # they have a keyboard to press
_names = _strings(1, 30)
users = st.builds(
    _user,
    st.sampled_from(PRESSERS) | st.integers(1, 2**52),
    _names,
    st.sampled_from(LANGUAGE_CODES),
)
pressers = st.builds(_user, st.sampled_from(PRESSERS), _names, st.sampled_from(LANGUAGE_CODES))


def _private(user: dict[str, Any]) -> dict[str, Any]:
    return {"id": user["id"], "type": "private", "first_name": user["first_name"]}


def _message(chat: dict[str, Any], sender: dict[str, Any] | None, **content: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"message_id": 1_000_000, "date": DATE, "chat": chat, **content}
    if sender is not None:
        message["from"] = sender
    else:
        message["sender_chat"] = chat
    return message


def _text(text: str) -> dict[str, Any]:
    entities = command_entities(text)
    return {"text": text, "entities": entities} if entities else {"text": text}


def checked(kind: ActionKind, update: dict[str, Any], **extra: Any) -> Action:
    """An Action, after making sure PTB reads the update (a generator bug fails here)."""
    Update.de_json({"update_id": 1, **update}, None)
    return Action(kind, update, **extra)


def _private_text(user: dict[str, Any], text: str) -> Action:
    update = {"message": _message(_private(user), user, **_text(text))}
    return checked("private_text", update, chat_id=user["id"])


_FILE = {"file_id": "hostile-file", "file_unique_id": "hostile"}
OTHER_CONTENT: list[dict[str, Any]] = [
    {"sticker": {**_FILE, "type": "regular", "width": 512, "height": 512,
                 "is_animated": False, "is_video": False, "emoji": "🙂"}},
    {"voice": {**_FILE, "duration": 3}},
    {"video_note": {**_FILE, "length": 240, "duration": 2}},
    {"location": {"latitude": 51.5, "longitude": -0.12}},
    {"location": {"latitude": -90.0, "longitude": 180.0}},
    {"venue": {"location": {"latitude": 0.0, "longitude": 0.0}, "title": "‮X", "address": ""}},
    {"contact": {"phone_number": "+000", "first_name": "\u200b"}},
    {"dice": {"emoji": "🎲", "value": 6}},
    {"document": {**_FILE, "file_name": "notes.yaml", "file_size": 10}},
    {"document": {**_FILE, "file_name": "\u202egpj.exe"}},
    {"audio": {**_FILE, "duration": 1}},
    {"animation": {**_FILE, "width": 1, "height": 1, "duration": 1}},
]  # fmt: skip


def _private_other(user: dict[str, Any], content: dict[str, Any]) -> Action:
    update = {"message": _message(_private(user), user, **content)}
    return checked("private_other", update, chat_id=user["id"])


callback_data = _strings(0, 64) | st.builds(
    lambda prefix, suffix: prefix + suffix,
    st.sampled_from(CALLBACK_PREFIXES),
    st.sampled_from(["", "0", "-1", "1", "yes", "no", "done", "snooze", "outside", "inside",
                     "e", "s", "99:e", "7:s", "1:2:3", "x" * 40, "99999999999999999999"])
    | st.integers(-(2**63), 2**63).map(str)
    | st.builds(lambda n, action: f"{n}:{action}", st.integers(-5, 2**40),
                st.sampled_from(["done", "snooze", "outside", "inside", "yes", "no", "x"])),
)  # fmt: skip
callback_data = callback_data.filter(
    lambda data: 0 < len(data.encode("utf-8", "surrogatepass")) <= 64
)


def _press(user: dict[str, Any], data: str) -> Action:
    """A press with ``data`` on a message the test picks when it pushes the update (the
    newest bot message with buttons in the chat): Telegram only sends presses of messages
    the bot sent, but a modified client can send any data."""
    chat = _private(user)
    message = {"message_id": 1, "chat": chat, "date": DATE}  # replaced by the real message
    update = {
        "callback_query": {
            "id": "replaced-when-pushed",
            "from": user,
            "message": message,
            "chat_instance": "1",
            "data": data,
        }
    }
    return checked("press", update, chat_id=user["id"])


_groups = st.builds(
    lambda kind, number, title: {"id": -number, "type": kind, "title": title},
    st.sampled_from(["group", "supergroup"]),
    st.sampled_from([4_242, 1_001_234_567_890]) | st.integers(1, 10**13),
    _strings(1, 20),
)
_channels = st.builds(
    lambda number: {"id": -number, "type": "channel", "title": "News"},
    st.sampled_from([1_009_999_999_999]) | st.integers(10**12, 2 * 10**12),
)


def _group_message(chat: dict[str, Any], user: dict[str, Any], text: str) -> Action:
    return checked(
        "elsewhere", {"message": _message(chat, user, **_text(text))}, chat_id=chat["id"]
    )


def _channel_post(chat: dict[str, Any], text: str, edited: bool) -> Action:
    content = _text(text) | ({"edit_date": DATE + 60} if edited else {})
    kind = "edited_channel_post" if edited else "channel_post"
    return checked("elsewhere", {kind: _message(chat, None, **content)}, chat_id=chat["id"])


def _edited(
    chat_is_private: bool, user: dict[str, Any], group: dict[str, Any], text: str
) -> Action:
    chat = _private(user) if chat_is_private else group
    message = _message(chat, user, edit_date=DATE + 60, **_text(text))
    return checked("elsewhere", {"edited_message": message}, chat_id=chat["id"])


def _bot(bot_id: int = 123456) -> dict[str, Any]:
    return {"id": bot_id, "is_bot": True, "first_name": "Aftercare Sandbox"}


def _silent_updates(user: dict[str, Any], group: dict[str, Any], text: str) -> list[dict[str, Any]]:
    option = {"persistent_id": "o1", "text": text[:100], "voter_count": 1}
    poll = {
        "id": "p1", "question": text[:300], "options": [option, {**option, "persistent_id": "o2"}],
        "total_voter_count": 1, "is_closed": False, "is_anonymous": True, "type": "regular",
        "allows_multiple_answers": False, "allows_revoting": False, "members_only": False,
    }  # fmt: skip
    member = {"status": "member", "user": _bot()}
    left = {"status": "left", "user": _bot()}
    return [
        {"poll": poll},
        {"poll_answer": {"poll_id": "p1", "user": user, "option_ids": [0],
                         "option_persistent_ids": ["o1"]}},
        {"inline_query": {"id": "iq1", "from": user, "query": text[:256], "offset": ""}},
        {"chosen_inline_result": {"result_id": "r", "from": user, "query": text[:256]}},
        {"my_chat_member": {"chat": group, "from": user, "date": DATE,
                            "old_chat_member": left, "new_chat_member": member}},
        {"my_chat_member": {"chat": group, "from": user, "date": DATE,
                            "old_chat_member": member, "new_chat_member": left}},
        {"chat_member": {"chat": group, "from": user, "date": DATE,
                         "old_chat_member": {"status": "left", "user": user},
                         "new_chat_member": {"status": "member", "user": user}}},
        {"chat_join_request": {"chat": group, "from": user, "user_chat_id": user["id"],
                               "date": DATE}},
        {"message_reaction": {"chat": _private(user), "message_id": 1, "user": user,
                              "date": DATE, "old_reaction": [],
                              "new_reaction": [{"type": "emoji", "emoji": "👍"}]}},
        {"message_reaction_count": {"chat": group, "message_id": 1, "date": DATE,
                                    "reactions": []}},
        {"pre_checkout_query": {"id": "pc", "from": user, "currency": "XTR",
                                "total_amount": 1, "invoice_payload": text[:128]}},
        {"message": _message(_private(user), user, new_chat_members=[user])},
        {"message": _message(group, user, left_chat_member=_bot())},
        {"message": _message(group, user, new_chat_title=text[:128])},
    ]  # fmt: skip


def batches(max_size: int) -> st.SearchStrategy[list[Action]]:
    """A few actions arriving together. At most one press per chat: two presses of one
    message before the bot answers are a double tap, a known bug (see
    ``test_a_double_tap_on_a_button_gets_no_apology``)."""
    return st.lists(
        actions(),
        min_size=1,
        max_size=max_size,
        unique_by=lambda a: (a.kind, a.chat_id) if a.kind == "press" else id(a),
    )


@st.composite
def actions(draw: st.DrawFn) -> Action:
    """One hostile update of any of the kinds above."""
    user = draw(users)
    text = draw(texts)
    group = draw(_groups)
    choice = draw(st.integers(0, 8))
    if choice <= 2:
        return _private_text(user, text)
    if choice == 3:
        return _private_other(user, draw(st.sampled_from(OTHER_CONTENT)))
    if choice == 4:
        return _press(draw(pressers), draw(callback_data))
    if choice == 5:
        return _group_message(group, user, text)
    if choice == 6:
        return _channel_post(draw(_channels), text, draw(st.booleans()))
    if choice == 7:
        return _edited(draw(st.booleans()), user, group, text)
    update = draw(st.sampled_from(_silent_updates(user, group, text)))
    return checked("silent", update)
