"""Find the patient's IANA timezone from what they type: a city, a country or an offset.

Everything here is pure: the tables come from pytz (countries) and
``zoneinfo.available_timezones()`` (valid names), are built once on first use, and no
function raises on any string. Only names that ``zoneinfo`` can load are ever returned
(``localtime`` and ``Factory`` are not treated as real zones).

Result order of ``find_timezones`` (duplicates dropped, at most ten):

1. the exact zone name, if it is a current one (``europe/london``, ``america/new york``);
2. a country by name, ISO code or alias (``germany``, ``DE``, ``UK``, ``USA``): its zones,
   main ones first (``USA`` gives New York, Chicago, Denver, ... rather than Indiana);
3. a city: a zone's last component (``new york``, ``Sao Paulo``/``São Paulo``) or one of a few
   big cities that have no zone of their own (``Manchester`` -> Europe/London);
4. the exact name of a legacy zone (``US/Eastern``, ``Japan``);
5. a UTC offset (``UTC+5:45``, ``GMT-3``, ``+01:00``): zones whose winter/standard offset
   is that, then zones whose summer offset is that (offsets taken in January and July of
   ``OFFSET_REFERENCE_YEAR``, so the answer does not depend on today's date);
6. cities, then countries, whose name starts with the query (3+ characters).
"""

from __future__ import annotations

import re
import unicodedata
import zoneinfo
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import cache

import pytz

MAX_RESULTS = 10
MAX_QUERY_CHARS = 100
OFFSET_REFERENCE_YEAR = 2026
_PREFIX_MIN_CHARS = 3
_NOT_ZONES = frozenset({"localtime", "Factory"})

COMMON_COUNTRY_CODES = (
    "GB",
    "US",
    "DE",
    "ES",
    "FR",
    "IT",
    "NL",
    "RU",
    "UA",
    "PL",
    "AU",
    "CA",
    "MX",
    "AR",
    "BR",
    "AE",
)

# Zones people mostly mean, listed before the rest of the country's zones.
_MAIN_ZONES: dict[str, tuple[str, ...]] = {
    "US": (
        "America/New_York",
        "America/Chicago",
        "America/Denver",
        "America/Phoenix",
        "America/Los_Angeles",
        "America/Anchorage",
        "Pacific/Honolulu",
    ),
    "CA": (
        "America/Toronto",
        "America/Vancouver",
        "America/Edmonton",
        "America/Winnipeg",
        "America/Halifax",
        "America/St_Johns",
        "America/Regina",
    ),
    "AU": (
        "Australia/Sydney",
        "Australia/Melbourne",
        "Australia/Brisbane",
        "Australia/Perth",
        "Australia/Adelaide",
        "Australia/Darwin",
        "Australia/Hobart",
    ),
    "BR": ("America/Sao_Paulo", "America/Manaus", "America/Fortaleza", "America/Recife"),
    "RU": (
        "Europe/Moscow",
        "Europe/Kaliningrad",
        "Europe/Samara",
        "Asia/Yekaterinburg",
        "Asia/Novosibirsk",
        "Asia/Krasnoyarsk",
        "Asia/Irkutsk",
        "Asia/Vladivostok",
    ),
    "MX": ("America/Mexico_City", "America/Cancun", "America/Tijuana", "America/Monterrey"),
    "UA": ("Europe/Kyiv",),
    "KZ": ("Asia/Almaty",),
    "ID": ("Asia/Jakarta",),
}

_COUNTRY_ALIASES: dict[str, str] = {
    "uk": "GB",
    "united kingdom": "GB",
    "great britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "usa": "US",
    "united states of america": "US",
    "america": "US",
    "uae": "AE",
    "emirates": "AE",
    "holland": "NL",
    "south korea": "KR",
    "korea": "KR",
    "north korea": "KP",
    "czechia": "CZ",
    "turkiye": "TR",
    "russian federation": "RU",
    "ivory coast": "CI",
}

_CITY_ALIASES: dict[str, tuple[str, ...]] = {
    "Europe/London": (
        "manchester",
        "birmingham",
        "liverpool",
        "leeds",
        "glasgow",
        "edinburgh",
        "bristol",
        "cardiff",
        "belfast",
    ),
    "America/New_York": (
        "washington",
        "washington dc",
        "boston",
        "miami",
        "atlanta",
        "philadelphia",
        "orlando",
    ),
    "America/Chicago": ("houston", "dallas", "austin", "san antonio"),
    "America/Los_Angeles": ("san francisco", "seattle", "las vegas", "san diego"),
    "Europe/Berlin": ("munich", "münchen", "hamburg", "frankfurt", "cologne", "köln"),
    "Europe/Madrid": ("barcelona", "valencia", "seville", "sevilla", "malaga", "marbella"),
    "Europe/Paris": ("marseille", "lyon", "nice", "toulouse", "bordeaux"),
    "Europe/Rome": ("milan", "milano", "florence", "firenze", "naples", "napoli", "venice"),
    "Europe/Amsterdam": ("rotterdam", "the hague", "den haag", "utrecht"),
    "Europe/Moscow": ("saint petersburg", "st petersburg", "sochi", "kazan"),
    "Europe/Kyiv": ("kiev", "odesa", "odessa", "kharkiv", "lviv", "dnipro"),
    "Europe/Warsaw": ("kraków", "wrocław", "gdańsk", "poznań", "łódź"),
    "Australia/Sydney": ("canberra",),
    "America/Toronto": ("ottawa", "montreal", "montréal"),
    "America/Edmonton": ("calgary",),
    "America/Mexico_City": ("guadalajara",),
    "America/Cancun": ("playa del carmen", "tulum"),
    "America/Sao_Paulo": ("rio de janeiro", "rio", "brasilia", "brasília", "belo horizonte"),
    "Asia/Dubai": ("abu dhabi", "sharjah"),
    "Asia/Kolkata": ("mumbai", "delhi", "new delhi", "bangalore", "bengaluru"),
    "Asia/Shanghai": ("beijing",),
    "Asia/Ho_Chi_Minh": ("saigon", "ho chi minh city"),
    "Asia/Jerusalem": ("tel aviv",),
    "Europe/Zurich": ("geneva", "basel"),
}

_OFFSET = re.compile(r"(?:utc|gmt)?([+-])(\d{1,2})(?::?(\d{2}))?", re.ASCII)


def find_timezones(query: str) -> list[str]:
    """Zone names matching ``query``, best first, at most ten; [] when nothing matches."""
    if not isinstance(query, str) or len(query) > MAX_QUERY_CHARS:
        return []
    key = _normalise(query)
    if not key:
        return []
    found: list[str] = []
    for group in _candidate_groups(query, key):
        found.extend(name for name in group if name not in found)
        if len(found) >= MAX_RESULTS:
            break
    return found[:MAX_RESULTS]


def country_timezones(country_code: str) -> list[str]:
    """The zones of a country by ISO code (``UK`` accepted for GB), main ones first."""
    if not isinstance(country_code, str):
        return []
    code = country_code.strip().upper()
    code = _COUNTRY_ALIASES.get(code.lower(), code)
    return list(_country_zones().get(code, ()))


def common_countries(locale: str = "en") -> list[tuple[str, str]]:
    """A short picker list of (ISO code, name); names are pytz's English ones for any locale."""
    return [(code, pytz.country_names[code]) for code in COMMON_COUNTRY_CODES]


def is_valid_timezone(name: str) -> bool:
    """True if ``name`` is an IANA zone name zoneinfo can load (exact spelling)."""
    return isinstance(name, str) and name in _valid_names()


def _candidate_groups(query: str, key: str) -> Iterable[tuple[str, ...]]:
    """The matches for each kind of reading, in priority order (lazily)."""
    exact = _exact_names().get(_exact_key(query))
    current = _current_names()
    if exact in current:
        yield (exact,)
    yield _country_zones().get(_countries().get(key, ""), ())
    yield _cities().get(key, ())
    if exact is not None and exact not in current:
        yield (exact,)
    yield _offset_matches(query)
    if len(key) >= _PREFIX_MIN_CHARS:
        yield _prefixed(_cities(), key)
        yield _prefixed(_country_name_zones(), key)


def _prefixed(table: dict[str, tuple[str, ...]], key: str) -> tuple[str, ...]:
    """Zones of every entry whose key starts with ``key``, entries in alphabetical order."""
    return tuple(name for entry in sorted(table) if entry.startswith(key) for name in table[entry])


def _normalise(text: str) -> str:
    """Lower case, no accents, ``_``/``-`` as spaces, no dots or apostrophes, single spaces."""
    decomposed = unicodedata.normalize("NFKD", text[:MAX_QUERY_CHARS])
    plain = "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()
    plain = plain.replace("&", " and ").replace("_", " ").replace("-", " ")
    plain = re.sub(r"[.'’`]", "", plain)
    words = plain.split()
    if words and words[0] == "the":
        words = words[1:]
    return " ".join(words).strip(' ,;:!?"()')


def _exact_key(name: str) -> str:
    """Case- and underscore-insensitive form of a full zone name."""
    return "".join(name.strip().casefold().replace("_", " ").split())


@cache
def _valid_names() -> frozenset[str]:
    """Every loadable IANA name."""
    return frozenset(zoneinfo.available_timezones() - _NOT_ZONES)


@cache
def _current_names() -> frozenset[str]:
    """Valid names in current use (pytz's common list), i.e. not legacy links."""
    return frozenset(pytz.common_timezones) & _valid_names()


@cache
def _exact_names() -> dict[str, str]:
    """Exact-name lookup: ``_exact_key(name)`` -> name."""
    return {_exact_key(name): name for name in sorted(_valid_names())}


@cache
def _country_zones() -> dict[str, tuple[str, ...]]:
    """ISO code -> its valid zones, main zones first, then pytz's order."""
    valid = _valid_names()
    table: dict[str, tuple[str, ...]] = {}
    for code in pytz.country_names:
        zones = [*_MAIN_ZONES.get(code, ()), *pytz.country_timezones.get(code, [])]
        ordered = tuple(dict.fromkeys(zone for zone in zones if zone in valid))
        if ordered:
            table[code] = ordered
    return table


@cache
def _countries() -> dict[str, str]:
    """Normalised country name, alias or code -> ISO code."""
    table: dict[str, str] = {}
    for code, name in pytz.country_names.items():
        table[_normalise(name)] = code
        table[_normalise(re.sub(r"\(.*?\)", "", name))] = code
    table.update({_normalise(alias): code for alias, code in _COUNTRY_ALIASES.items()})
    table.update({code.lower(): code for code in pytz.country_names})
    return {name: code for name, code in table.items() if name and code in _country_zones()}


@cache
def _country_name_zones() -> dict[str, tuple[str, ...]]:
    """Normalised country name, alias or code -> that country's zones."""
    zones = _country_zones()
    return {name: zones[code] for name, code in _countries().items()}


@cache
def _cities() -> dict[str, tuple[str, ...]]:
    """Normalised city -> zones: current zones, then alias targets, then legacy-only names."""
    table: dict[str, list[str]] = {}
    current = _current_names()
    for name in sorted(current):
        if "/" in name and not name.startswith("Etc/"):
            table.setdefault(_city_key(name), []).append(name)
    for zone, cities in _CITY_ALIASES.items():
        if zone in current:
            for city in cities:
                table.setdefault(_normalise(city), []).append(zone)
    for name in sorted(_valid_names() - current):
        if "/" in name and not name.startswith("Etc/"):
            table.setdefault(_city_key(name), [name])
    return {city: tuple(dict.fromkeys(zones)) for city, zones in table.items()}


def _city_key(name: str) -> str:
    """The normalised last component of a zone name: ``America/Sao_Paulo`` -> ``sao paulo``."""
    return _normalise(name.rsplit("/", 1)[-1])


def _offset_matches(query: str) -> tuple[str, ...]:
    """Zones at the UTC offset written in ``query`` (standard time first), or ()."""
    target = _parse_offset(query)
    if target is None:
        return ()
    by_rank = sorted(
        (rank, name)
        for name, (winter, summer) in _zone_offsets().items()
        if (rank := _offset_rank(name, target, winter, summer)) is not None
    )
    return (*(name for _, name in by_rank), *_fixed_offset_zone(target))


def _offset_rank(
    name: str, target: timedelta, first: timedelta, second: timedelta
) -> tuple[int, int, int] | None:
    """Sort key for a zone at ``target``: standard before summer, likely countries first."""
    if target not in (first, second):
        return None
    summer = int(target != min(first, second))
    common = int(_zone_country().get(name) not in COMMON_COUNTRY_CODES)
    main = int(not _is_main_zone(name))
    return summer, common, main


def _parse_offset(query: str) -> timedelta | None:
    """``UTC+5:45``, ``GMT-3``, ``+0100`` -> the offset; None if not an offset."""
    compact = "".join(query.casefold().replace("−", "-").split())
    match = _OFFSET.fullmatch(compact)
    if match is None:
        return None
    hours, minutes = int(match[2]), int(match[3] or 0)
    if hours > 14 or minutes > 59:
        return None
    sign = -1 if match[1] == "-" else 1
    return sign * timedelta(hours=hours, minutes=minutes)


def _fixed_offset_zone(target: timedelta) -> tuple[str, ...]:
    """The ``Etc/GMT±N`` zone for a whole-hour offset (POSIX sign: Etc/GMT-5 is UTC+5)."""
    hours, rest = divmod(int(target.total_seconds()), 3600)
    if rest:
        return ()
    name = "Etc/UTC" if hours == 0 else f"Etc/GMT{-hours:+d}"
    return (name,) if name in _valid_names() else ()


@cache
def _zone_offsets() -> dict[str, tuple[timedelta, timedelta]]:
    """Current zones (no legacy, no Etc) -> offsets in mid-January and mid-July."""
    instants = [datetime(OFFSET_REFERENCE_YEAR, month, 15, 12, tzinfo=UTC) for month in (1, 7)]
    table: dict[str, tuple[timedelta, timedelta]] = {}
    for name in sorted(_current_names()):
        if "/" not in name or name.startswith(("Etc/", "US/", "Canada/")):
            continue
        zone = zoneinfo.ZoneInfo(name)
        offsets = [instant.astimezone(zone).utcoffset() or timedelta() for instant in instants]
        table[name] = (offsets[0], offsets[1])
    return table


@cache
def _zone_country() -> dict[str, str]:
    """Zone name -> ISO code of the (first) country using it."""
    table: dict[str, str] = {}
    for code, zones in _country_zones().items():
        for zone in zones:
            table.setdefault(zone, code)
    return table


def _is_main_zone(name: str) -> bool:
    """True for a country's first listed zone or one of its curated main zones."""
    code = _zone_country().get(name)
    if code is None:
        return False
    return name in _MAIN_ZONES.get(code, ()) or _country_zones()[code][0] == name
