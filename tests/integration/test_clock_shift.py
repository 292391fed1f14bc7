"""The date-sensitive tests (marker ``clock``) pass on any day: run them on far dates, a leap day, a
month end and a year end among them, with the whole session's wall clock shifted (time-machine, in
process: Debian's libfaketime 0.9.10 hangs Python 3.11's timed lock waits)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from tests.conftest import ROOT

DATES = ["2028-02-29T10:00:00Z", "2027-12-31T23:50:00Z", "2031-04-30T06:00:00Z"]
DATE_SENSITIVE = ["tests/integration/pipeline", "tests/integration/query", "tests/integration/test_clock_shift.py"]


@pytest.mark.skipif(bool(os.environ.get("PRISM_TEST_CLOCK")), reason="already on a shifted clock")
@pytest.mark.parametrize("when", DATES)
def test_date_sensitive_tests_pass_on_a_shifted_clock(when: str) -> None:
    env = {**os.environ, "PRISM_TEST_CLOCK": when}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "clock", *DATE_SENSITIVE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "deselected" in proc.stdout


@pytest.mark.clock
def test_the_session_clock_is_the_one_asked_for() -> None:
    wanted = os.environ.get("PRISM_TEST_CLOCK")
    if not wanted:
        pytest.skip("runs inside test_date_sensitive_tests_pass_on_a_shifted_clock")
    start = datetime.fromisoformat(wanted)
    assert 0 <= (datetime.now(UTC) - start).total_seconds() < 600
