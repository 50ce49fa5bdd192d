"""Finding a patient's timezone from a city, country or offset."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta

import pytest
import pytz
from hypothesis import given
from hypothesis import strategies as st

from schedules.zones import (
    MAX_RESULTS,
    OFFSET_REFERENCE_YEAR,
    common_countries,
    country_timezones,
    find_timezones,
    is_valid_timezone,
)

AVAILABLE = zoneinfo.available_timezones()


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("Europe/London", "Europe/London"),
        ("europe/london", "Europe/London"),
        ("  AMERICA/NEW_YORK ", "America/New_York"),
        ("america/new york", "America/New_York"),
        ("new york", "America/New_York"),
        ("New_York", "America/New_York"),
        ("Sao Paulo", "America/Sao_Paulo"),
        ("São Paulo", "America/Sao_Paulo"),
        ("SÃO PAULO", "America/Sao_Paulo"),
        ("kathmandu", "Asia/Kathmandu"),
        ("Port-au-Prince", "America/Port-au-Prince"),
        ("st. john's", "America/St_Johns"),
        ("germany", "Europe/Berlin"),
        ("Germany!", "Europe/Berlin"),
        ("DE", "Europe/Berlin"),
        ("de", "Europe/Berlin"),
        ("united kingdom", "Europe/London"),
        ("UK", "Europe/London"),
        ("GB", "Europe/London"),
        ("England", "Europe/London"),
        ("USA", "America/New_York"),
        ("U.S.A.", "America/New_York"),
        ("United States", "America/New_York"),
        ("the Netherlands", "Europe/Amsterdam"),
        ("Côte d'Ivoire", "Africa/Abidjan"),
        ("australia", "Australia/Sydney"),
        ("Brazil", "America/Sao_Paulo"),
        ("russia", "Europe/Moscow"),
        ("UAE", "Asia/Dubai"),
        ("Japan", "Asia/Tokyo"),
        ("manchester", "Europe/London"),
        ("München", "Europe/Berlin"),
        ("Łódź", "Europe/Warsaw"),
        ("kiev", "Europe/Kyiv"),
        ("Kyiv", "Europe/Kyiv"),
        ("US/Eastern", "US/Eastern"),
        ("UTC", "UTC"),
        ("UTC+5:45", "Asia/Kathmandu"),
        ("utc +05:45", "Asia/Kathmandu"),
        ("GMT-3", "America/Argentina/Buenos_Aires"),
        ("lond", "Europe/London"),
    ],
)
def test_best_match_comes_first(query: str, first: str) -> None:
    assert find_timezones(query)[0] == first


def test_country_results_list_main_zones_first() -> None:
    assert find_timezones("usa")[:5] == [
        "America/New_York",
        "America/Chicago",
        "America/Denver",
        "America/Phoenix",
        "America/Los_Angeles",
    ]
    assert find_timezones("germany") == ["Europe/Berlin", "Europe/Busingen"]


def test_results_are_capped_and_unique() -> None:
    for query in ("usa", "russia", "+1", "united", "america"):
        found = find_timezones(query)
        assert len(found) == MAX_RESULTS
        assert len(set(found)) == len(found)


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("UTC+1", timedelta(hours=1)),
        ("+01:00", timedelta(hours=1)),
        ("gmt+0100", timedelta(hours=1)),
        ("UTC−3", timedelta(hours=-3)),
        ("gmt+14", timedelta(hours=14)),
        ("utc-9:30", timedelta(hours=-9, minutes=-30)),
        ("UTC+5:30", timedelta(hours=5, minutes=30)),
    ],
)
def test_offset_results_have_that_offset(text: str, target: timedelta) -> None:
    found = find_timezones(text)
    assert found
    for name in found:
        zone = zoneinfo.ZoneInfo(name)
        offsets = {
            datetime(OFFSET_REFERENCE_YEAR, month, 15, 12, tzinfo=UTC).astimezone(zone).utcoffset()
            for month in (1, 7)
        }
        assert target in offsets, name


def test_offset_prefers_standard_time_in_clinic_countries() -> None:
    found = find_timezones("UTC+1")
    assert "Europe/Berlin" in found
    assert "Europe/London" not in found[:6]  # London is only at +1 in summer


@pytest.mark.parametrize(
    "query",
    ["", "   ", "asdfgh", "xyzzy plugh", "zz", "🙂", "12345", "UTC+15", "gmt+3:99", "a" * 500],
)
def test_nonsense_finds_nothing(query: str) -> None:
    assert find_timezones(query) == []


@given(st.text())
def test_any_text_returns_only_valid_names(query: str) -> None:
    found = find_timezones(query)
    assert len(found) <= MAX_RESULTS
    assert len(set(found)) == len(found)
    assert all(name in AVAILABLE and is_valid_timezone(name) for name in found)


@given(st.sampled_from(sorted(AVAILABLE - {"localtime", "Factory"})))
def test_every_zone_name_finds_itself(name: str) -> None:
    assert name in find_timezones(name.lower())


def test_country_timezones_follow_pytz() -> None:
    assert country_timezones("DE") == ["Europe/Berlin", "Europe/Busingen"]
    assert country_timezones(" de ") == ["Europe/Berlin", "Europe/Busingen"]
    assert country_timezones("UK") == ["Europe/London"]
    us = country_timezones("US")
    assert us[0] == "America/New_York"
    assert sorted(us) == sorted(pytz.country_timezones["US"])


@pytest.mark.parametrize("code", ["", "ZZ", "Germany", "123", "\x00"])
def test_unknown_country_code_has_no_zones(code: str) -> None:
    assert country_timezones(code) == []


def test_common_countries_is_the_curated_picker_list() -> None:
    countries = common_countries()
    codes = [code for code, _ in countries]
    assert codes[:3] == ["GB", "US", "DE"]
    assert len(codes) == 16
    assert {"AE", "BR", "AR", "MX", "UA", "RU"} <= set(codes)
    assert all(name == pytz.country_names[code] for code, name in countries)
    assert all(country_timezones(code) for code in codes)
    assert common_countries("ru") == countries


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("Europe/London", True),
        ("America/Argentina/Buenos_Aires", True),
        ("UTC", True),
        ("europe/london", False),
        ("Mars/Olympus_Mons", False),
        ("", False),
        ("localtime", False),
        ("../etc/passwd", False),
    ],
)
def test_is_valid_timezone(name: str, valid: bool) -> None:
    assert is_valid_timezone(name) is valid
