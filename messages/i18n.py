"""UI strings through gettext catalogs (``messages/locales/<lang>/LC_MESSAGES/aftercare.po``).

Message ids are the English texts, so English needs no catalog. Catalogs are read
with Babel once per locale. Protocol texts do not live here: they are protocol data.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

SUPPORTED_LOCALES = ("en", "es", "de", "ru")
BASE_LOCALE = "en"
LANGUAGE_NAMES = {"en": "English", "es": "Español", "de": "Deutsch", "ru": "Русский"}


def pick_locale(language_code: str | None) -> str:
    """Telegram's ``language_code`` (e.g. "de-AT") → one of ours, else the base locale."""
    if not language_code:
        return BASE_LOCALE
    primary = language_code.split("-")[0].lower()
    return primary if primary in SUPPORTED_LOCALES else BASE_LOCALE


class Translator:
    def __init__(self, locale: str, catalog: Catalog | None) -> None:
        self.locale = locale
        self._catalog = catalog

    def __call__(self, message_id: str, /, **values: Any) -> str:
        text = message_id
        if self._catalog is not None:
            entry = self._catalog.get(message_id)
            if entry is not None and entry.string and not entry.fuzzy:
                text = str(entry.string)
        return text.format(**values) if values else text


@cache
def translator(locale: str) -> Translator:
    if locale not in SUPPORTED_LOCALES:
        locale = BASE_LOCALE
    return Translator(locale, _read_catalog(locale))


def _read_catalog(locale: str) -> Catalog | None:
    if locale == BASE_LOCALE:
        return None
    path = resources.files("messages") / "locales" / locale / "LC_MESSAGES" / "aftercare.po"
    if not path.is_file():
        return None
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)
