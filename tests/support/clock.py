"""A clock for tests: fixed until moved, so nothing a test asserts depends on the day it runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta


@dataclass
class TestClock:
    now: datetime

    __test__ = False  # not a test class

    @classmethod
    def on(cls, day: date, hour: int = 12) -> TestClock:
        return cls(datetime(day.year, day.month, day.day, hour, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)
