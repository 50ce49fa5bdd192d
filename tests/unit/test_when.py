"""Reading the treatment date/time a patient types."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import pytz
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schedules.errors import InputError
from schedules.when import ParsedWhen, parse_treatment_time

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
ZONES = [LONDON, NEW_YORK, ZoneInfo("Asia/Kathmandu"), ZoneInfo("Australia/Lord_Howe")]
EXAMPLE = '"today 14:00"'

# Monday 30 March 2026, 15:00 local: both zones are already on summer time.
NOW = datetime(2026, 3, 30, 15, 0)

ACCEPTED = [
    ("now", datetime(2026, 3, 30, 15, 0), True),
    ("just now", datetime(2026, 3, 30, 15, 0), True),
    ("today", datetime(2026, 3, 30, 12, 0), False),
    ("today 14:30", datetime(2026, 3, 30, 14, 30), True),
    ("yesterday", datetime(2026, 3, 29, 12, 0), False),
    ("yesterday 5pm", datetime(2026, 3, 29, 17, 0), True),
    ("yesterday at 17:00", datetime(2026, 3, 29, 17, 0), True),
    ("day before yesterday", datetime(2026, 3, 28, 12, 0), False),
    ("2 days ago", datetime(2026, 3, 28, 12, 0), False),
    ("2 days ago at 9am", datetime(2026, 3, 28, 9, 0), True),
    ("1 week ago", datetime(2026, 3, 23, 12, 0), False),
    ("3 hours ago", datetime(2026, 3, 30, 12, 0), True),
    ("an hour ago", datetime(2026, 3, 30, 14, 0), True),
    ("45 min ago", datetime(2026, 3, 30, 14, 15), True),
    ("half an hour ago", datetime(2026, 3, 30, 14, 30), True),
    ("14:00", datetime(2026, 3, 30, 14, 0), True),
    ("2pm", datetime(2026, 3, 30, 14, 0), True),
    ("2:30 pm", datetime(2026, 3, 30, 14, 30), True),
    ("2.30 p.m.", datetime(2026, 3, 30, 14, 30), True),
    ("14.00", datetime(2026, 3, 30, 14, 0), True),
    ("9.30", datetime(2026, 3, 30, 9, 30), True),  # not a day.month, so a time
    ("00.03", datetime(2026, 3, 30, 0, 3), True),
    ("14h30", datetime(2026, 3, 30, 14, 30), True),
    ("12am", datetime(2026, 3, 30, 0, 0), True),
    ("12pm", datetime(2026, 3, 30, 12, 0), True),
    ("noon", datetime(2026, 3, 30, 12, 0), True),
    ("15:30", datetime(2026, 3, 30, 15, 30), True),  # exactly 30 minutes ahead: allowed
    ("30.03.2025 15:00", datetime(2025, 3, 30, 15, 0), True),  # exactly 365 days ago: allowed
    ("364 days ago", datetime(2025, 3, 31, 12, 0), False),
    ("28.03", datetime(2026, 3, 28, 12, 0), False),
    ("28.03 14:00", datetime(2026, 3, 28, 14, 0), True),
    ("28.03.2026", datetime(2026, 3, 28, 12, 0), False),
    ("28.03.26", datetime(2026, 3, 28, 12, 0), False),
    ("28-03-2026", datetime(2026, 3, 28, 12, 0), False),
    ("28/03/2026 9am", datetime(2026, 3, 28, 9, 0), True),
    ("2026-03-28", datetime(2026, 3, 28, 12, 0), False),
    ("2026-03-28 14:00", datetime(2026, 3, 28, 14, 0), True),
    ("2026-03-28T14:00", datetime(2026, 3, 28, 14, 0), True),
    ("2026-03-28T14:00:00", datetime(2026, 3, 28, 14, 0), True),
    ("28 March", datetime(2026, 3, 28, 12, 0), False),
    ("March 28 2026", datetime(2026, 3, 28, 12, 0), False),
    ("Mar 28, 2026", datetime(2026, 3, 28, 12, 0), False),
    ("28 mar 14:00", datetime(2026, 3, 28, 14, 0), True),
    ("the 28th of March at 2.30 p.m.", datetime(2026, 3, 28, 14, 30), True),
    ("5pm yesterday", datetime(2026, 3, 29, 17, 0), True),
    ("12.03", datetime(2026, 3, 12, 12, 0), False),  # a valid day.month is a date
    ("15.04", datetime(2025, 4, 15, 12, 0), False),  # most recent 15 April: last year
    ("  YESTERDAY, 5 P.M.!! ", datetime(2026, 3, 29, 17, 0), True),
    ("\t28.03\n14:00 ", datetime(2026, 3, 28, 14, 0), True),
    ("２８.０３ １４:００", datetime(2026, 3, 28, 14, 0), True),  # full-width digits
    ("٢٨.٠٣ ١٤:٠٠", datetime(2026, 3, 28, 14, 0), True),  # Arabic-Indic digits
]


@pytest.mark.parametrize("zone", [LONDON, NEW_YORK], ids=str)
@pytest.mark.parametrize(("text", "expected", "time_given"), ACCEPTED)
def test_accepted_forms(zone: ZoneInfo, text: str, expected: datetime, time_given: bool) -> None:
    result = parse_treatment_time(text, NOW.replace(tzinfo=zone))
    assert result == ParsedWhen(expected.replace(tzinfo=zone), time_given)
    assert result.local.tzinfo is zone
    assert result.local.utcoffset() == expected.replace(tzinfo=zone).utcoffset()


def test_date_only_today_before_noon_is_now() -> None:
    now = datetime(2026, 3, 30, 9, 15, tzinfo=LONDON)
    assert parse_treatment_time("today", now) == ParsedWhen(now, time_given=False)
    assert parse_treatment_time("30.03", now) == ParsedWhen(now, time_given=False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30.12", datetime(2025, 12, 30, 12, 0)),
        ("30.12 14:00", datetime(2025, 12, 30, 14, 0)),
        ("30 December", datetime(2025, 12, 30, 12, 0)),
        ("31/12 11pm", datetime(2025, 12, 31, 23, 0)),
        ("01.01", datetime(2026, 1, 1, 12, 0)),
        ("02.01", datetime(2026, 1, 2, 10, 0)),  # today, before noon: now
        ("03.01", datetime(2025, 1, 3, 12, 0)),  # tomorrow's date means last year's
        ("yesterday 23:30", datetime(2026, 1, 1, 23, 30)),
        ("3 days ago", datetime(2025, 12, 30, 12, 0)),
    ],
)
def test_year_is_inferred_across_new_year(text: str, expected: datetime) -> None:
    now = datetime(2026, 1, 2, 10, 0, tzinfo=LONDON)
    assert parse_treatment_time(text, now).local == expected.replace(tzinfo=LONDON)


def test_spring_forward_gap_in_london_becomes_a_real_instant() -> None:
    # 01:30 on 29 March 2026 does not exist in London (01:00 GMT -> 02:00 BST). With fold=0
    # it is read at the pre-transition offset (GMT), i.e. 01:30 UTC, shown as 02:30 BST.
    result = parse_treatment_time("29.03.2026 01:30", NOW.replace(tzinfo=LONDON))
    assert result.local.astimezone(UTC) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert (result.local.hour, result.local.minute) == (2, 30)
    assert result.local.utcoffset() == timedelta(hours=1)
    assert result.local == result.local.astimezone(UTC).astimezone(LONDON)
    assert result.time_given


def test_spring_forward_gap_in_new_york() -> None:
    result = parse_treatment_time("08.03.2026 02:30", NOW.replace(tzinfo=NEW_YORK))
    assert result.local.astimezone(UTC) == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
    assert (result.local.hour, result.local.minute) == (3, 30)


@pytest.mark.parametrize(
    ("zone", "text", "utc"),
    [
        (LONDON, "25.10.2026 01:30", datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
        (NEW_YORK, "01.11.2026 01:30", datetime(2026, 11, 1, 5, 30, tzinfo=UTC)),
    ],
    ids=["london", "new-york"],
)
def test_fall_back_fold_takes_the_first_occurrence(
    zone: ZoneInfo, text: str, utc: datetime
) -> None:
    now = datetime(2026, 11, 2, 12, 0, tzinfo=zone)
    result = parse_treatment_time(text, now)
    assert result.local.astimezone(UTC) == utc
    assert (result.local.hour, result.local.minute, result.local.fold) == (1, 30, 0)


def test_hours_ago_is_elapsed_time_across_a_dst_change() -> None:
    now = datetime(2026, 3, 29, 3, 30, tzinfo=LONDON)  # 02:30 UTC, just after spring forward
    result = parse_treatment_time("3 hours ago", now)
    assert result.local.astimezone(UTC) == datetime(2026, 3, 28, 23, 30, tzinfo=UTC)
    assert result.local.replace(tzinfo=None) == datetime(2026, 3, 28, 23, 30)


def test_pytz_now_local_is_handled_without_lmt_offsets() -> None:
    now = pytz.timezone("Europe/London").localize(datetime(2026, 3, 30, 15, 0))
    result = parse_treatment_time("28.03 14:00", now)
    assert result.local.astimezone(UTC) == datetime(2026, 3, 28, 14, 0, tzinfo=UTC)
    assert result.local.utcoffset() == timedelta(0)


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="aware"):
        parse_treatment_time("today", NOW)


REJECTED = [
    ("", "when your treatment was"),
    ("   ", "when your treatment was"),
    ("...", "couldn't read"),
    ("blah", "couldn't read"),
    ("tomorrow", "couldn't read"),
    ("14", "couldn't read"),
    ("at", "couldn't read"),
    ("28 smarch", "couldn't read"),
    ("31.02", "no date"),
    ("30.02.2026", "no date"),
    ("29.02.2025", "no date"),
    ("00.12.2025", "no date"),
    ("32.01", "no date"),
    ("28.13.2026", "no date"),
    ("31 April", "no date"),
    ("25:00", "isn't a time"),
    ("0:60", "isn't a time"),
    ("24:00", "isn't a time"),
    ("13pm", "isn't a time"),
    ("0am", "isn't a time"),
    ("today 25:00", "isn't a time"),
    ("28.03 14:75", "isn't a time"),
    ("15:31", "future"),
    ("16:00", "future"),
    ("today 11pm", "future"),
    ("30.03 16:00", "future"),
    ("31.03.2026", "future"),
    ("2026-12-25", "future"),
    ("29.03.2025", "more than a year ago"),
    ("30.03.2025 14:59", "more than a year ago"),
    ("365 days ago", "more than a year ago"),
    ("400 days ago", "more than a year ago"),
    ("9999 hours ago", "more than a year ago"),
    ("9999 weeks ago", "more than a year ago"),
    ("29.02", "more than a year ago"),  # most recent 29 February is in 2024
    ("28.03.2020", "not within the past year"),
    ("28.03.9999 23:59", "not within the past year"),
    ("01.01.0000", "no date"),
    ("x" * 65, "too long"),
    ("x" * 30_000, "too long"),
]


@pytest.mark.parametrize("zone", [LONDON, NEW_YORK], ids=str)
@pytest.mark.parametrize(("text", "reason"), REJECTED, ids=lambda value: repr(value)[:30])
def test_rejections_are_friendly(zone: ZoneInfo, text: str, reason: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_treatment_time(text, NOW.replace(tzinfo=zone))
    message = str(caught.value)
    assert reason in message
    assert EXAMPLE in message


def test_out_of_range_message_says_how_it_was_read() -> None:
    with pytest.raises(InputError, match="12 March 2025, 12:00"):
        parse_treatment_time("12.03.2025", NOW.replace(tzinfo=LONDON))


def test_message_quotes_at_most_30_characters_of_input() -> None:
    text = "q" * 64
    with pytest.raises(InputError) as caught:
        parse_treatment_time(text, NOW.replace(tzinfo=LONDON))
    message = str(caught.value)
    assert "q" * 29 in message
    assert "q" * 30 not in message


def test_message_drops_control_characters() -> None:
    with pytest.raises(InputError) as caught:
        parse_treatment_time('\x00\x1b[31m"hi"\u202e\x7f', NOW.replace(tzinfo=LONDON))
    message = str(caught.value)
    assert message.isprintable()
    assert "[31m'hi'" in message


# --- properties -------------------------------------------------------------------------

now_values = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2090, 1, 1),
    timezones=st.sampled_from(ZONES),
    allow_imaginary=False,
)
WORDS = [
    "now", "today", "yesterday", "at", "ago", "days", "hours", "min", "an", "the", "of",
    "march", "dec", "28", "31", "3", "14:00", "2pm", "12am", "9.30", "28.03", "29.02",
    "2026", "2025-12-31", "31/12/25", "noon", "T", ",", "-", ".", "25:00", "0:60", "15h",
]  # fmt: skip
plausible_text = st.lists(st.sampled_from(WORDS), min_size=1, max_size=5).map(" ".join)
any_text = st.one_of(
    st.text(),
    st.text(min_size=60, max_size=70),
    st.text(max_size=10).map(lambda chunk: chunk * 3000),
    plausible_text,
)


def _assert_in_window(result: ParsedWhen, now: datetime) -> None:
    moment, reference = result.local.astimezone(UTC), now.astimezone(UTC)
    assert moment <= reference + timedelta(minutes=30)
    assert moment >= reference - timedelta(days=365)
    assert result.local.utcoffset() is not None


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(text=any_text, now=now_values)
def test_any_text_gives_a_result_in_the_window_or_an_input_error(text: str, now: datetime) -> None:
    outcome: ParsedWhen | InputError
    try:
        outcome = parse_treatment_time(text, now)
    except InputError as error:
        outcome = error
    if isinstance(outcome, InputError):
        assert len(str(outcome)) < 400
        assert EXAMPLE in str(outcome)
    else:
        assert isinstance(outcome, ParsedWhen)
        _assert_in_window(outcome, now)


@given(text=plausible_text, now=now_values)
def test_plausible_text_results_stay_in_the_window(text: str, now: datetime) -> None:
    try:
        result = parse_treatment_time(text, now)
    except InputError:
        return
    _assert_in_window(result, now)


@given(
    now=now_values,
    minutes_back=st.integers(min_value=0, max_value=364 * 24 * 60),
    layout=st.sampled_from(["%d.%m.%Y %H:%M", "%Y-%m-%d %H:%M", "%d/%m/%Y %H:%M"]),
)
def test_formatted_past_datetimes_parse_back(now: datetime, minutes_back: int, layout: str) -> None:
    zone = now.tzinfo
    assert zone is not None
    instant = now.astimezone(UTC).replace(second=0, microsecond=0) - timedelta(minutes=minutes_back)
    moment = instant.astimezone(zone)
    result = parse_treatment_time(moment.strftime(layout), now)
    assert result.time_given
    assert result.local.replace(tzinfo=None) == moment.replace(tzinfo=None, fold=0)
    # An ambiguous wall-clock time (DST fold) is read as its first occurrence.
    assert result.local.astimezone(UTC) == moment.replace(fold=0).astimezone(UTC)
