"""Body temperatures written as numbers: "temp 39.4", "39,5", "102F", "fiebre de 39".

Pure: text in, degrees Celsius out. A number counts as a temperature when a unit
follows it (°C, °F, C, F, degrees, Grad, grados, градусов) or a temperature word
stands near it (temp, fever, fiebre, Fieber, температура, ...), or when it has one
decimal and lies where only a body temperature lies (35.0-42.9 °C, 95.0-109.9 °F).
A value is read as Fahrenheit when it says so or only Fahrenheit makes it a body
temperature (95-110); anything outside 34-43 °C after conversion is not a body
temperature and is left out.
"""

from __future__ import annotations

import re

FEVER_C = 38.0  # NICE and NHS: 38 °C or more is a fever

_NUMBER = re.compile(
    r"(?<![\d.,:/])(\d{2,3})(?:[.,](\d{1,2}))?(?![\d:/]|[.,]\d)\s*"
    r"(°\s*[cf]?|℃|℉|º\s*[cf]?|(?:c|f)\b|degrees?\b|deg\b|grad(?:e|os?)?\b|градус\w*|гр\b)?",
    re.IGNORECASE,
)
_CONTEXT = re.compile(
    r"\b(temp\w*|fever\w*|feverish|fiebre|febril|temperatura|fieber\w*|"
    r"temperatur|температур\w*|жар|лихорад\w*|thermometer|termómetro|termometro|"
    r"thermometer|градусник\w*)\b|(?<!\w)(t|т)\s*[=:]?\s*$",
    re.IGNORECASE,
)
_REACH = 25  # characters either side of the number searched for a temperature word


def _celsius(value: float, unit: str) -> float | None:
    unit = unit.lower().replace(" ", "")
    fahrenheit = unit.endswith("f") or "℉" in unit or (not unit.endswith("c") and value >= 90)
    celsius = (value - 32) * 5 / 9 if fahrenheit else value
    return round(celsius, 1) if 34.0 <= celsius <= 43.0 else None


def temperatures(text: str) -> list[float]:
    """Every body temperature in ``text``, in °C, in the order written."""
    found: list[float] = []
    for match in _NUMBER.finditer(text):
        whole, decimals, unit = match.group(1), match.group(2), match.group(3) or ""
        value = float(f"{whole}.{decimals}" if decimals else whole)
        before = text[max(0, match.start() - _REACH) : match.start()]
        after = text[match.end() : match.end() + _REACH]
        worded = bool(_CONTEXT.search(before) or _CONTEXT.search(after))
        plausible_bare = decimals is not None and (35.0 <= value < 43.0 or 95.0 <= value < 110.0)
        if not (unit or worded or plausible_bare):
            continue
        celsius = _celsius(value, unit)
        if celsius is not None:
            found.append(celsius)
    return found


def fever_in(text: str) -> float | None:
    """The highest temperature written, when any is given; None when the text gives none."""
    values = temperatures(text)
    return max(values) if values else None
