"""Spanish, German and Russian time words, rewritten to the English the parser reads.

Patients answer "when were you treated?" in their own language ("ayer 17:00",
"gestern um 17 Uhr", "вчера в 17:00"). Rather than a parser per language, each
phrase is mapped onto its English equivalent before parsing. Data, not logic.
"""

from __future__ import annotations

import re
from functools import cache

_NUMBER = r"(\d{1,4}|una?|ein(?:e|en)?|один|одну)"

# (pattern, replacement) applied in order to casefolded text.
_PHRASES: tuple[tuple[str, str], ...] = (
    # Spanish
    (r"\bahora mismo\b", "now"),
    (r"\bahora\b", "now"),
    (r"\bantes de ayer\b|\banteayer\b", "day before yesterday"),
    (r"\bayer\b", "yesterday"),
    (r"\bhoy\b", "today"),
    (r"\b(?:a )?mediod[ií]a\b", "noon"),
    (rf"\bhace {_NUMBER} ?(?:horas?|h)\b", r"\1 hours ago"),
    (rf"\bhace {_NUMBER} ?(?:minutos?|min)\b", r"\1 minutes ago"),
    (rf"\bhace {_NUMBER} ?d[ií]as?\b", r"\1 days ago"),
    (rf"\bhace {_NUMBER} ?semanas?\b", r"\1 weeks ago"),
    (r"\ba las?\b", "at"),
    (r"\bde (\d{4})\b", r"\1"),
    (r"(\d) de (?=[a-z])", r"\1 "),
    # German
    (r"\bgerade eben\b|\bjetzt\b|\bgerade\b", "now"),
    (r"\bvorgestern\b", "day before yesterday"),
    (r"\bgestern\b", "yesterday"),
    (r"\bheute\b", "today"),
    (r"\bmittags?\b", "noon"),
    (rf"\bvor {_NUMBER} ?(?:stunden?|std\.?)(?=\s|$)", r"\1 hours ago"),
    (rf"\bvor {_NUMBER} ?(?:minuten?|min\.?)(?=\s|$)", r"\1 minutes ago"),
    (rf"\bvor {_NUMBER} ?tag(?:en)?\b", r"\1 days ago"),
    (rf"\bvor {_NUMBER} ?wochen?\b", r"\1 weeks ago"),
    (r"\bum\b", "at"),
    (r"\b(\d{1,2})\. (?=[a-zä])", r"\1 "),
    (r"(\d{1,2}):(\d{2}) ?uhr\b", r"\1:\2"),
    (r"(\d{1,2}) ?uhr\b", r"\1h"),
    # Russian
    (r"только что|сейчас", "now"),
    (r"позавчера", "day before yesterday"),
    (r"вчера", "yesterday"),
    (r"сегодня", "today"),
    (r"полдень", "noon"),
    (rf"{_NUMBER} ?(?:часов|часа|час) назад", r"\1 hours ago"),
    (rf"{_NUMBER} ?(?:минут|минуты|минуту|мин) назад", r"\1 minutes ago"),
    (rf"{_NUMBER} ?(?:дней|дня|день) назад", r"\1 days ago"),
    (rf"{_NUMBER} ?(?:недель|недели|неделю) назад", r"\1 weeks ago"),
    (r"(?<!\w)в(?!\w)", "at"),
    (r"(\d) ?ч\b", r"\1h"),
)

_COUNT_WORDS = {
    "una": "1", "un": "1", "ein": "1", "eine": "1", "einen": "1", "один": "1", "одну": "1",
}  # fmt: skip

_MONTHS: dict[str, str] = {
    # Spanish
    "enero": "january", "febrero": "february", "marzo": "march", "abril": "april",
    "mayo": "may", "junio": "june", "julio": "july", "agosto": "august",
    "septiembre": "september", "setiembre": "september", "octubre": "october",
    "noviembre": "november", "diciembre": "december",
    # German
    "januar": "january", "jänner": "january", "februar": "february", "märz": "march",
    "maerz": "march", "mai": "may", "juni": "june", "juli": "july", "oktober": "october",
    "dezember": "december",
    # Russian (genitive, as in "28 марта", and nominative)
    "января": "january", "февраля": "february", "марта": "march", "апреля": "april",
    "мая": "may", "июня": "june", "июля": "july", "августа": "august",
    "сентября": "september", "октября": "october", "ноября": "november",
    "декабря": "december", "январь": "january", "февраль": "february", "март": "march",
    "апрель": "april", "май": "may", "июнь": "june", "июль": "july", "август": "august",
    "сентябрь": "september", "октябрь": "october", "ноябрь": "november",
    "декабрь": "december",
}  # fmt: skip


@cache
def _compiled() -> tuple[tuple[re.Pattern[str], str], ...]:
    return tuple((re.compile(pattern), replacement) for pattern, replacement in _PHRASES)


def to_english(text: str) -> str:
    """Casefolded ``text`` with known foreign time words replaced by English ones."""
    for pattern, replacement in _compiled():
        text = pattern.sub(replacement, text)
    words = [_MONTHS.get(word.rstrip("."), _COUNT_WORDS.get(word, word)) for word in text.split()]
    return " ".join(words)
