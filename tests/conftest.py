"""Shared test settings."""

import os

# PTB 22 warns on integer time periods unless this opt-in is set; tests turn warnings into errors.
os.environ.setdefault("PTB_TIMEDELTA", "true")
