"""Bot API error answers, worded as the real Telegram server words them.

Handlers raise :class:`ApiError`; the server turns it into the HTTP status and JSON body that
PTB maps onto ``BadRequest``, ``Forbidden``, ``RetryAfter`` and friends.
"""

from __future__ import annotations

from typing import Any

CHAT_NOT_FOUND = "Bad Request: chat not found"
CHAT_ID_EMPTY = "Bad Request: chat_id is empty"
TEXT_EMPTY = "Bad Request: message text is empty"
TEXT_TOO_LONG = "Bad Request: message is too long"
BUTTON_DATA_INVALID = "Bad Request: BUTTON_DATA_INVALID"
BUTTON_URL_INVALID = "Bad Request: BUTTON_URL_INVALID"
MESSAGE_ID_MISSING = "Bad Request: message identifier is not specified"
EDIT_NOT_FOUND = "Bad Request: message to edit not found"
DELETE_NOT_FOUND = "Bad Request: message to delete not found"
CANT_EDIT = "Bad Request: message can't be edited"
NO_TEXT_TO_EDIT = "Bad Request: there is no text in the message to edit"
REPLY_NOT_FOUND = "Bad Request: message to be replied not found"
COPY_NOT_FOUND = "Bad Request: message to copy not found"
FORWARD_NOT_FOUND = "Bad Request: message to forward not found"
CAPTION_TOO_LONG = "Bad Request: message caption is too long"
WRONG_FILE_ID = "Bad Request: wrong file identifier/HTTP URL specified"
TYPE_MISMATCH = "Bad Request: type of file mismatch"
INVALID_FILE_ID = "Bad Request: invalid file_id"
FILE_TOO_BIG = "Bad Request: file is too big"
IMAGE_PROCESS_FAILED = "Bad Request: IMAGE_PROCESS_FAILED"
PHOTO_INVALID_DIMENSIONS = "Bad Request: PHOTO_INVALID_DIMENSIONS"
ATTACH_NOT_FOUND = "Bad Request: wrong HTTP URL specified"
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"
BLOCKED = "Forbidden: bot was blocked by the user"
CONFLICT_POLL = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
UNSUPPORTED = "Bad Request: method not supported by the sandbox"


class ApiError(Exception):
    """A failed Bot API call: HTTP status, Telegram description and optional parameters."""

    def __init__(
        self, code: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def body(self) -> dict[str, Any]:
        """The JSON body Telegram sends for this error."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(description: str) -> ApiError:
    """A 400 answer; ``description`` must already start with ``Bad Request:``."""
    return ApiError(400, description)


def too_many_requests(retry_after: int) -> ApiError:
    """A 429 answer carrying ``retry_after`` (whole seconds, at least 1)."""
    seconds = max(1, int(retry_after))
    return ApiError(429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds})


def not_found() -> ApiError:
    """Telegram's answer to an unknown method or a malformed path."""
    return ApiError(404, "Not Found")


def unauthorized() -> ApiError:
    """Telegram's answer to a token it does not accept."""
    return ApiError(401, "Unauthorized")
