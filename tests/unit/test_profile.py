"""The skin profile's pure helpers: the multi-select, and the local day of a redness answer."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schedules.profile import (
    CHOICES,
    CONTRAINDICATIONS,
    MAX_MASK,
    NONE_OF_THESE,
    contraindications_of,
    decode,
    encode,
    local_day,
    redness_needs_review,
    toggle,
)

selections = st.frozensets(st.sampled_from(CHOICES))


@given(selected=selections)
def test_a_selection_survives_the_trip_through_callback_data(selected: frozenset[str]) -> None:
    mask = encode(selected)
    assert 0 <= mask <= MAX_MASK
    assert len(f"pf:cd:{mask}:e".encode()) <= 64
    assert decode(mask) == selected


@given(start=selections, taps=st.lists(st.sampled_from(CHOICES), max_size=12))
def test_none_of_these_never_stands_beside_a_contraindication(
    start: frozenset[str], taps: list[str]
) -> None:
    selected = start - {NONE_OF_THESE} if len(start) > 1 else start
    for choice in taps:
        after = toggle(selected, choice)
        assert (choice in after) != (choice in selected)  # a tap flips what was tapped
        selected = after
        assert not (NONE_OF_THESE in selected and len(selected) > 1)


def test_only_real_contraindications_are_stored_in_a_fixed_order() -> None:
    assert contraindications_of({"eczema", NONE_OF_THESE, "rosacea"}) == ["rosacea", "eczema"]
    assert contraindications_of(set()) == []
    assert list(CONTRAINDICATIONS) == contraindications_of(CHOICES)


def test_bad_masks_and_choices_are_refused() -> None:
    with pytest.raises(ValueError, match="out of range"):
        decode(MAX_MASK + 1)
    with pytest.raises(ValueError, match="unknown choice"):
        toggle(frozenset(), "acne")


@pytest.mark.parametrize(
    ("treated", "now", "zone", "day"),
    [
        # 23:30 in London on 26 March; 00:30 the next local morning is already day 1.
        (
            datetime(2026, 3, 26, 23, 30, tzinfo=UTC),
            datetime(2026, 3, 27, 0, 30, tzinfo=UTC),
            "Europe/London",
            1,
        ),
        # The same instants in Los Angeles are both on 26 March: day 0.
        (
            datetime(2026, 3, 26, 23, 30, tzinfo=UTC),
            datetime(2026, 3, 27, 0, 30, tzinfo=UTC),
            "America/Los_Angeles",
            0,
        ),
        # Seven local days across the spring DST change in London.
        (
            datetime(2026, 3, 26, 14, 0, tzinfo=UTC),
            datetime(2026, 4, 2, 9, 0, tzinfo=UTC),
            "Europe/London",
            7,
        ),
        (
            datetime(2026, 3, 26, 14, 0, tzinfo=UTC),
            datetime(2026, 4, 1, 22, 59, tzinfo=UTC),
            "Europe/London",
            6,
        ),
    ],
)
def test_days_are_counted_on_the_patients_local_calendar(
    treated: datetime, now: datetime, zone: str, day: int
) -> None:
    assert local_day(treated, now, zone) == day
    assert redness_needs_review(treated, now, zone) == (day >= 7)
