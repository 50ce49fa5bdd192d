"""The console's templates, rendered in the signed-in staff member's language.

Every page gets ``t`` (the translator; templates write ``{{ t("English text") }}``, which
``scripts/extract_messages.py`` collects like the bot's strings), ``lang``, the clinic and
the CSRF token for its forms.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from bot.console.auth import Signed
from bot.handlers.common import clinic_in_words
from messages.i18n import LANGUAGE_NAMES, translator

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
# No framing (the buttons act on patients), nothing loaded from elsewhere, and the sign-in
# link's path never leaves in a Referer.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline';"
        " img-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, no-store",
}


def render(
    request: Request, signed: Signed, template: str, status: int = 200, **values: Any
) -> Response:
    context = {
        "clinic": signed.clinic,
        "clinic_title": clinic_in_words(signed.clinic, signed.t),
        "csrf": signed.csrf,
        "signed": signed,
        "t": signed.t,
        "lang": signed.language,
        "languages": LANGUAGE_NAMES,
        **values,
    }
    return page(request, template, context, status)


def page(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    return TEMPLATES.TemplateResponse(
        request, template, context, status_code=status, headers=PAGE_HEADERS
    )


def message(
    request: Request, heading: str, text: str, status: int, language: str = "en"
) -> Response:
    """A page with one message: before sign-in (English unless the link said otherwise)."""
    context = {"heading": heading, "text": text, "t": translator(language), "lang": language}
    return page(request, "message.html", context, status)
