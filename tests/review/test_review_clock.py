"""The review subsystem in-process with a clock passed in (never a patched time): weeks of colour changes on a
real canvas file, synced by the real follower code on a real scheduler, give what `fsrs` computes."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import fsrs

from canvasd.canvas import CanvasEngine
from canvasd.canvas.vaults import VaultRegistry
from canvasd.config import load_settings
from canvasd.jobs.scheduler import JobScheduler, Priority
from canvasd.metrics import Metrics
from canvasd.review.clock import FixedClock
from canvasd.review.subsystem import ReviewSubsystem
from canvasd.watch.feed import ChangeFeed

RED, PURPLE, GREEN = "1", "6", "4"
START = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
# (days after the start, colour of the node, counted for the schedule?)
STEPS = [(1, GREEN, True), (1, PURPLE, False), (3, RED, True), (3, GREEN, False), (12, GREEN, None),
         (13, PURPLE, True), (40, GREEN, True)]
RATING = {RED: fsrs.Rating.Again, PURPLE: fsrs.Rating.Hard, GREEN: fsrs.Rating.Good}


def _canvas(colour: str) -> dict[str, Any]:
    return {"nodes": [{"id": "n", "type": "text", "text": "# Limits\nWhat a function approaches.", "x": 0, "y": 0,
                       "width": 300, "height": 100, "color": colour}], "edges": []}


def test_weeks_of_colour_changes_on_a_passed_in_clock_give_what_fsrs_computes(tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    vault.mkdir()
    canvas = vault / "calc.canvas"
    canvas.write_text(json.dumps(_canvas(RED)))
    settings = load_settings(daemon={"data_dir": tmp_path / "data", "vaults": {"v": vault}},
                             batch_writer={"fsync": False}, review={"timezone": "UTC", "daily_canvas": False})
    metrics = Metrics()
    engine = CanvasEngine(settings, metrics)
    clock = FixedClock(START)

    async def main() -> None:
        scheduler = JobScheduler(settings.jobs, metrics)
        await scheduler.start()
        review = ReviewSubsystem(settings, metrics, engine, VaultRegistry(settings.daemon.vaults), scheduler,
                                 ChangeFeed(64, metrics), clock=clock)
        try:
            await review.start()
            assert review.phase == "ready"
            first = await review.card("v", "calc.canvas", "n")
            assert first["log"] == [] and first["card"]["due"] == "2026-05-04T08:00:00Z"
            expected = fsrs.Card(card_id=1)
            scheduler_ = fsrs.Scheduler(learning_steps=(), relearning_steps=(), enable_fuzzing=False)
            colour, scheduled_days = RED, set()
            for days, new_colour, counted in STEPS:
                clock.at = START + timedelta(days=days, hours=len(scheduled_days))
                if counted is None:  # a quiet day: nothing changes, nothing is recorded
                    assert await review.sync("v", "calc.canvas", Priority.NORMAL) == "unchanged"
                    continue
                canvas.write_text(json.dumps(_canvas(new_colour)))
                assert await review.sync("v", "calc.canvas", Priority.NORMAL) == "reviewed"
                if counted:
                    expected, _ = scheduler_.review_card(expected, RATING[new_colour], review_datetime=clock.at)
                    scheduled_days.add(days)
                colour = new_colour
                got = await review.card("v", "calc.canvas", "n")
                assert got["log"][-1]["scheduled"] is counted and got["log"][-1]["source"] == "colour"
                assert got["card"]["due"] == expected.due.isoformat().replace("+00:00", "Z")
                assert got["card"]["stability"] == expected.stability
            assert colour == GREEN
            # the day, the due list and the statistics follow the clock too
            today = date(2026, 6, 13)
            assert review.today() == today
            due_day = datetime.fromisoformat(got["card"]["due"]).date()
            assert (await review.due("v"))["cards"] == []
            assert [c["node"] for c in (await review.due("v", due_day))["cards"]] == ["n"]
            assert [c["node"] for c in (await review.due("v", due_day - timedelta(days=1)))["cards"]] == []
            stats = await review.stats("v")
            assert stats["on"] == today.isoformat() and stats["reviewed_today"] == 1 and stats["streak_days"] == 1
            assert stats["reviews_30_days"] == 2 and stats["retention"] == 1.0  # hard on day 13, good on day 40
        finally:
            await scheduler.stop()
            await review.close()

    asyncio.run(main())
    engine.close()
