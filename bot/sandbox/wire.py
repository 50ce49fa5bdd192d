"""The Bot API's HTTP wire format: reading parameters and writing (or withholding) answers.

Parameters come from the query string plus a JSON, form-encoded or multipart body, which is how
PTB and other clients send them (PTB posts forms with non-string values JSON-encoded). A file
part of a multipart body becomes an :class:`~bot.sandbox.files.Upload` under its field name
(a parameter may also point at it as ``attach://<field>``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from bot.sandbox.errors import ApiError, bad_request
from bot.sandbox.files import Upload

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class DropConnection(Exception):
    """Raised by a handler to close the connection instead of answering."""


async def drop_connection(request: web.Request) -> web.StreamResponse:
    """Close the client's connection without a response."""
    if request.transport is not None:
        request.transport.close()
    await asyncio.sleep(3600)  # cancelled by aiohttp once the connection is gone
    return web.Response(status=500)


async def read_params(request: web.Request) -> dict[str, Any]:
    """Query string plus a JSON, form-encoded or multipart body (files as Uploads)."""
    params: dict[str, Any] = dict(request.query)
    if not request.body_exists:
        return params
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise bad_request("Bad Request: can't parse JSON object") from None
        if not isinstance(body, dict):
            raise bad_request("Bad Request: can't parse JSON object")
        params.update(body)
    elif request.content_type in _FORM_TYPES:
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                params[key] = _upload(key, value)
            elif isinstance(value, str):
                params[key] = value
    return params


def _upload(field: str, part: web.FileField) -> Upload:
    """A multipart file part as an Upload (its bytes read)."""
    return Upload(field, part.filename or None, part.content_type, part.file.read())


def error_response(error: ApiError) -> web.Response:
    """The HTTP answer for a failed call: Telegram's status and JSON body."""
    return web.json_response(error.body(), status=error.code)
