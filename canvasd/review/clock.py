"""The time, and the learner's local day: passed to the review subsystem, so a test can pass its own clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Protocol


class Clock(Protocol):
    """Where the review subsystem gets the time."""

    def now(self) -> datetime:
        """The time now, timezone-aware."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        """The time now, in UTC."""
        return datetime.now(UTC)


class FixedClock:
    """A clock that says what it is told (tests pass one to the subsystem instead of patching time)."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        """The time it was set to."""
        return self.at

    def advance(self, delta: timedelta) -> None:
        """Move the clock on."""
        self.at += delta


def local_zone(name: str) -> tzinfo:
    """The zone `review.timezone` names (empty: the machine's local zone)."""
    if not name:
        zone = datetime.now().astimezone().tzinfo
        return zone if zone is not None else UTC
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def local_day(at: datetime, zone: tzinfo) -> date:
    """The learner's calendar day at `at`."""
    return at.astimezone(zone).date()


def day_end(day: date, zone: tzinfo) -> datetime:
    """The first instant after `day` in the learner's zone, in UTC."""
    return datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)


def day_start(day: date, zone: tzinfo) -> datetime:
    """The first instant of `day` in the learner's zone, in UTC."""
    return datetime.combine(day, time(0), zone).astimezone(UTC)


def today_at(now: datetime, clock_time: time, zone: tzinfo) -> datetime:
    """The instant the learner's wall clock shows `clock_time` on the day of `now`."""
    return datetime.combine(now.astimezone(zone).date(), clock_time, zone).astimezone(UTC)
