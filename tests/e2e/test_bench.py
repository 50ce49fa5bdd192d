"""`aftercare bench --quick` runs end to end and produces every figure (no timing thresholds:
the bench reports, it does not judge the machine it runs on)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

# They choose their own database, not the e2e worlds': the Postgres pass skips them.
pytestmark = pytest.mark.own_database

BACKENDS = ("sqlite", "postgres")
EXPECTED = [
    *(f"dispatch.{b}.{k}" for b in BACKENDS for k in ("per_second", "cpu_ms_ours", "cpu_ms_sandbox")),
    *(f"limit.{ms}ms.{k}" for ms in (0, 150)
      for k in ("rate", "share", "429", "reminder_wait_p99", "reminder_wait_max")),
    "latency.p50", "latency.p99", "latency.max",
    *(f"scale.{b}.{k}" for b in BACKENDS for k in ("growth", "index")),
    *(f"enrol.{b}.per_second" for b in BACKENDS),
    "enrol.pure_planner",
    "memory.ours.rss", "memory.baseline.rss", "memory.ratio", "memory.baseline.per_job",
    "memory.ours.kept", "memory.baseline.kept", "memory.ours.rss_restarted",
    "triage.model_rss", *(f"safety.{b}.{k}" for b in BACKENDS for k in ("answer", "alert")),
    *(f"triage.{s}.{k}" for s in ("final", "dev", "labelled", "heldout")
      for k in ("per_second", "accuracy", "emergency_recall", "urgent_recall", "reassured",
                "over_escalated")),
]  # fmt: skip


def test_quick_bench_produces_every_figure_as_a_number(tmp_path: Path) -> None:
    output = tmp_path / "benchmarks.md"
    done = subprocess.run(
        [sys.executable, "-m", "bot", "bench", "--quick", "--json", "--output", str(output)],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    values = {f["key"]: f["value"] for f in report["figures"]}
    missing = [key for key in EXPECTED if key not in values]
    assert missing == []
    wakes = [key for key in values if key.startswith("scale.") and ".wake_ms." in key]
    assert len(wakes) == 2 * len(BACKENDS)  # two sizes on each database
    for key, value in values.items():
        assert isinstance(value, int | float), key
        assert math.isfinite(value), key
    assert {"cpu", "cores", "memory", "python", "sqlite", "postgres"} <= report["machine"].keys()
    written = output.read_text(encoding="utf-8")
    assert "## Machine" in written
    assert all(f["label"] in written for f in report["figures"])
