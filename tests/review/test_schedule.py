"""The rating rules, the FSRS schedule (equal to what `fsrs` computes) and the card store (SQLite on disk)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import fsrs
import pytest

from canvasd.config import ReviewSettings, load_settings
from canvasd.errors import BodyFieldError, ConfigError
from canvasd.review.clock import FixedClock, day_end, day_start, local_day, today_at
from canvasd.review.rating import STATE_RATINGS, Rating, parse_score, rating_of_score
from canvasd.review.schedule import Schedule, Spacing
from canvasd.review.store import CanvasChanges, CardRow, LogEntry, ReviewStore

START = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
RATINGS = [Rating.AGAIN, Rating.GOOD, Rating.HARD, Rating.GOOD, Rating.GOOD, Rating.AGAIN, Rating.EASY]
GAPS_DAYS = [0, 1, 3, 2, 8, 20, 4]


def _fsrs_cards(ratings: list[Rating], times: list[datetime]) -> list[fsrs.Card]:
    scheduler = fsrs.Scheduler(learning_steps=(), relearning_steps=(), enable_fuzzing=False)
    card = fsrs.Card(card_id=7, due=times[0])
    out = []
    for rating, at in zip(ratings, times, strict=True):
        card, _ = scheduler.review_card(card, fsrs.Rating(int(rating)), review_datetime=at)
        out.append(card)
    return out


def _times() -> list[datetime]:
    times, at = [], START
    for gap in GAPS_DAYS:
        at += timedelta(days=gap, hours=1)
        times.append(at)
    return times


def test_colour_and_score_bands_match_the_canvas() -> None:
    assert STATE_RATINGS == {"not_understood": Rating.AGAIN, "partly_understood": Rating.HARD,
                             "mastered": Rating.GOOD}
    assert [rating_of_score(s) for s in (0, 59.9, 60, 79, 80, 100)] == [
        Rating.AGAIN, Rating.AGAIN, Rating.HARD, Rating.HARD, Rating.GOOD, Rating.GOOD]
    assert rating_of_score(95, easy_score=90) is Rating.EASY
    assert rating_of_score(89, easy_score=90) is Rating.GOOD
    assert Rating.parse(" Hard ") is Rating.HARD and Rating.HARD.word == "hard"
    for bad in ("meh", 3, None):
        with pytest.raises(BodyFieldError):
            Rating.parse(bad)
    for bad in (-1, 101, "80", True):
        with pytest.raises(BodyFieldError):
            parse_score(bad)


def test_reviews_give_what_fsrs_gives_and_the_log_rebuilds_the_card() -> None:
    spacing = Spacing(ReviewSettings())
    times = _times()
    expected = _fsrs_cards(RATINGS, times)
    schedule = Schedule.new(START.timestamp())
    for rating, at, want in zip(RATINGS, times, expected, strict=True):
        schedule = spacing.review(7, schedule, rating, at.timestamp())
        assert schedule.due == want.due.timestamp()
        assert schedule.stability == want.stability and schedule.difficulty == want.difficulty
        assert schedule.state == int(want.state)
    rebuilt = spacing.rebuild(7, START.timestamp(), [(t.timestamp(), r) for t, r in zip(times, RATINGS, strict=True)])
    assert rebuilt == schedule


def test_retrievability_is_fsrs_own_and_zero_before_a_review() -> None:
    spacing = Spacing(ReviewSettings())
    assert spacing.retrievability(Schedule.new(START.timestamp()), START.timestamp()) == 0.0
    card = _fsrs_cards([Rating.GOOD], [START])[0]
    schedule = spacing.review(7, Schedule.new(START.timestamp()), Rating.GOOD, START.timestamp())
    for days in (0, 1, 5, 40):
        at = START + timedelta(days=days, hours=3)
        assert spacing.retrievability(schedule, at.timestamp()) == pytest.approx(
            spacing.scheduler.get_card_retrievability(card, at), rel=1e-9)


def test_local_days_follow_the_zone() -> None:
    zone = ZoneInfo("Asia/Shanghai")
    late = datetime(2026, 3, 1, 17, 0, tzinfo=UTC)  # 01:00 on 2 March in Shanghai
    assert local_day(late, zone) == date(2026, 3, 2)
    assert day_start(date(2026, 3, 2), zone) == datetime(2026, 3, 1, 16, 0, tzinfo=UTC)
    assert day_end(date(2026, 3, 2), zone) == datetime(2026, 3, 2, 16, 0, tzinfo=UTC)
    six = time(6, 0)
    assert today_at(late, six, zone) == datetime(2026, 3, 1, 22, 0, tzinfo=UTC)  # 06:00 on 2 March, still ahead
    clock = FixedClock(late)
    clock.advance(timedelta(days=1))
    assert clock.now() == late + timedelta(days=1)


def test_review_settings_are_checked() -> None:
    for bad in ({"folder": "../out"}, {"folder": ".hidden"}, {"daily_at": "6am"}, {"timezone": "Mars/Olympus"},
                {"easy_score": 50}):
        with pytest.raises(ConfigError):
            load_settings(review=bad)
    assert load_settings(review={"folder": "/Study/Review/"}).review.folder == "Study/Review"


def _card(node: str, at: float, path: str = "a.canvas") -> CardRow:
    return CardRow("v", path, node, node.upper(), "1", at, Schedule.new(at))


def test_the_store_keeps_cards_log_and_stamps_across_a_reopen(tmp_path: Path) -> None:
    spacing = Spacing(ReviewSettings())
    store = ReviewStore(tmp_path / "review.sqlite3")
    store.open()
    at = START.timestamp()
    first, second = _card("a", at), _card("b", at)
    store.commit("v", "a.canvas", CanvasChanges(cards=[first, second], stamp=(123, 45)))
    assert first.id is not None and second.id is not None
    first.schedule = spacing.review(first.id, first.schedule, Rating.GOOD, at + 60)
    store.record(first, LogEntry(at + 60, Rating.GOOD, "rating", True))
    store.close()

    again = ReviewStore(tmp_path / "review.sqlite3")
    again.open()
    assert again.stamps() == {("v", "a.canvas"): (123, 45)}
    kept = again.card("v", "a.canvas", "a")
    assert kept is not None and kept.schedule == first.schedule and kept.title == "A"
    assert again.log_of(first.id) == [LogEntry(at + 60, Rating.GOOD, "rating", True)]
    due, total = again.due(at + 10 * 86400, at + 86400)
    assert total == 2 and [c.node for c in due] == ["b", "a"]  # never reviewed first
    assert again.forget_canvas("v", "a.canvas", suspend=True) == 2
    assert again.due(at + 10 * 86400, at)[1] == 0 and again.stamps() == {}
    assert again.move_canvas("v", "a.canvas", "moved/a.canvas") == 2
    assert set(again.cards_of("v", "moved/a.canvas")) == {"a", "b"}
    again.close()


def test_a_failed_commit_leaves_nothing_behind(tmp_path: Path) -> None:
    store = ReviewStore(tmp_path / "review.sqlite3")
    store.open()
    at = START.timestamp()
    store.commit("v", "a.canvas", CanvasChanges(cards=[_card("a", at)], stamp=(1, 1)))
    clash = _card("a", at)  # the same node again: the UNIQUE key refuses it, and the whole commit rolls back
    with pytest.raises(Exception, match="UNIQUE"):
        store.commit("v", "a.canvas", CanvasChanges(cards=[_card("z", at), clash], stamp=(2, 2)))
    assert set(store.cards_of("v", "a.canvas")) == {"a"} and store.stamps() == {("v", "a.canvas"): (1, 1)}
    store.close()


def test_the_due_order_is_the_forgetting_curve(tmp_path: Path) -> None:
    spacing = Spacing(ReviewSettings())
    store = ReviewStore(tmp_path / "review.sqlite3")
    store.open()
    at = START.timestamp()
    cards = [_card(name, at) for name in "abcd"]
    store.commit("v", "a.canvas", CanvasChanges(cards=cards, stamp=None))
    for card, rating, days in zip(cards[:3], (Rating.GOOD, Rating.HARD, Rating.EASY), (3, 1, 9), strict=True):
        assert card.id is not None
        reviewed = at - days * 86400
        card.schedule = spacing.review(card.id, card.schedule, rating, reviewed)
        card.schedule.due = at - 1  # all due now, whatever FSRS said
        store.record(card, LogEntry(reviewed, rating, "rating", True))
    now = at + 3600
    due, total = store.due(now + 86400, now)
    by_r = sorted(cards, key=lambda c: (spacing.retrievability(c.schedule, now), c.schedule.due))
    assert total == 4 and [c.node for c in due] == [c.node for c in by_r]
    store.close()
