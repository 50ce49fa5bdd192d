"""Console sessions: a signed cookie naming the staff member, their clinic and a CSRF token.

The cookie is signed (itsdangerous), HttpOnly, SameSite=Strict, Secure behind HTTPS, and
lives for ``SESSION_HOURS``. It also carries the language the console speaks (the staff
member's Telegram language at sign-in, or the one they chose). Every form carries the
session's CSRF token, checked in constant time; SameSite=Strict already keeps other sites'
forms out, the token keeps out everything else.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from messages.i18n import Translator, pick_locale, translator
from schedules.models import Clinic

COOKIE = "aftercare_console"
SESSION_HOURS = 8


def console_key_for(token: str) -> str:
    """The default signing key: derived from the bot token, so every process agrees."""
    return hashlib.blake2b(b"aftercare-console", key=token.encode()[:64]).hexdigest()


@dataclass(frozen=True)
class ConsoleSession:
    staff_id: int
    clinic_id: int
    csrf: str
    language: str = "en"


class Sessions:
    """Reads and writes the session cookie."""

    def __init__(self, key: str, *, secure: bool) -> None:
        self._signer = URLSafeTimedSerializer(key, salt="console-session")
        self._secure = secure

    def start(self, response: Response, staff_id: int, clinic_id: int, language: str) -> None:
        value = {
            "staff": staff_id,
            "clinic": clinic_id,
            "csrf": secrets.token_urlsafe(16),
            "lang": pick_locale(language),
        }
        response.set_cookie(
            COOKIE,
            self._signer.dumps(value),
            max_age=SESSION_HOURS * 3600,
            path="/console",
            httponly=True,
            samesite="strict",
            secure=self._secure,
        )

    def end(self, response: Response) -> None:
        response.delete_cookie(COOKIE, path="/console")

    def read(self, request: Request) -> ConsoleSession | None:
        raw = request.cookies.get(COOKIE)
        if raw is None:
            return None
        try:
            value = self._signer.loads(raw, max_age=SESSION_HOURS * 3600)
        except BadSignature:
            return None
        try:
            return ConsoleSession(
                int(value["staff"]),
                int(value["clinic"]),
                str(value["csrf"]),
                pick_locale(str(value.get("lang") or "")),
            )
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class Signed:
    """Who is signed in, resolved once per request from the cookie and the database."""

    staff_id: int
    clinic: Clinic
    is_default: bool  # the default clinic also has the patients who joined without a link
    csrf: str
    is_owner: bool = False  # owners publish protocols
    language: str = "en"

    @property
    def t(self) -> Translator:
        return translator(self.language)

    @property
    def clinic_id(self) -> int:
        assert self.clinic.id is not None
        return self.clinic.id


def csrf_ok(session: ConsoleSession, sent: object) -> bool:
    return isinstance(sent, str) and hmac.compare_digest(sent, session.csrf)
