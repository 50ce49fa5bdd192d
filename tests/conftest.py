"""Shared test settings."""

import os

import pytest

# PTB 22 warns on integer time periods unless this opt-in is set; tests turn warnings into errors.
os.environ.setdefault("PTB_TIMEDELTA", "true")

SLOW_VARIABLE = "AFTERCARE_SLOW_TESTS"


def slow_tests_wanted() -> bool:
    return os.environ.get(SLOW_VARIABLE, "").strip().lower() in {"1", "true", "yes"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Long variants (``@pytest.mark.slow``) run only when AFTERCARE_SLOW_TESTS=1."""
    if slow_tests_wanted():
        return
    skip = pytest.mark.skip(reason=f"long variant: set {SLOW_VARIABLE}=1 to run it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
