"""Spaced-repetition benchmark: 10,000 cards over 200 canvases in a real daemon.

1. Cards: the time from the daemon's start to every coloured node having its card (the first sync).
2. `GET /v1/review/due` latency p50 / p95 (today, and a day a week ahead), with 2,000 of the cards reviewed
   (ratings with past times, through the API) so the due list mixes new and reviewed cards. The same query
   in-process against the daemon's SQLite file, ordered by the forgetting curve in SQL (what the daemon does)
   vs reading every due card and sorting by `fsrs`'s own retrievability in Python (the baseline).
3. Building the day's review canvas (`POST /v1/review/canvas`, `review.daily_limit` 30), for seven days.
4. Colour change to recorded review: a node's colour changed in the file (as Obsidian saves it) until the
   `review` event is on the change feed, p50 / p95 over 40 changes.
The index and the memory graph are off: the figures are the review subsystem's own.
Prints tables, then one final line of JSON with every figure and target.

    .venv/bin/python bench/review.py            # about 2 minutes on 2 cores
    .venv/bin/python bench/review.py --quick    # 2,000 cards over 40 canvases
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from report import fmt, gain, pct, target_check

from tests.support.canvas_factory import obsidian
from tests.support.daemon import DaemonProcess, EventStream

RED, PURPLE, GREEN = "1", "6", "4"
TARGETS: dict[str, dict[str, Any]] = {
    "review_canvas_build_s": {"op": "<=", "value": 1.0, "unit": "s"},
    "due_p95_ms": {"op": "<=", "value": 20.0, "unit": "ms"},
    "colour_to_review_p95_s": {"op": "<=", "value": 1.0, "unit": "s"},
}
CONFIG: dict[str, Any] = {"daemon": {"log_format": "json"}, "index": {"enabled": False},
                          "memory": {"enabled": False}, "review": {"daily_canvas": False, "timezone": "UTC"}}
TOPICS = ("entropy", "photosynthesis", "derivative", "momentum", "enzyme", "recursion", "inflation", "grammar")


def canvas(index: int, per_canvas: int, rng: random.Random) -> dict[str, Any]:
    nodes = []
    for k in range(per_canvas):
        topic = TOPICS[(index + k) % len(TOPICS)]
        nodes.append({"id": f"n{k}", "type": "text", "x": (k % 10) * 420, "y": (k // 10) * 200, "width": 400,
                      "height": 160, "color": rng.choice((RED, RED, PURPLE, GREEN)),
                      "text": f"# {topic.title()} {index}.{k}\nWhy does **{topic}** matter in case {k}?"})
    return {"nodes": nodes, "edges": []}


def fill(vault: Path, canvases: int, per_canvas: int) -> None:
    rng = random.Random(11)
    for index in range(canvases):
        folder = vault / f"topic{index % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"c{index}.canvas").write_text(obsidian(canvas(index, per_canvas, rng)))


def timed_get(daemon: DaemonProcess, url: str, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        answer = daemon.client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, answer.text
    return times


def rate_some(daemon: DaemonProcess, canvases: int, per_canvas: int, count: int) -> None:
    """`count` cards reviewed once or twice at past times, so stabilities and retrievabilities differ."""
    rng = random.Random(5)
    now = datetime.now(UTC)
    for i in range(count):
        index, k = i % canvases, (i * 7) % per_canvas
        at = now - timedelta(days=rng.randint(2, 60))
        for rating in rng.choice((["good"], ["hard", "good"], ["again"], ["good", "easy"])):
            at += timedelta(days=rng.randint(1, 3))
            answer = daemon.client.post(f"/v1/review/cards/v/topic{index % 10}/c{index}.canvas/nodes/n{k}/ratings",
                                        json={"rating": rating, "at": min(at, now).isoformat()})
            assert answer.status_code == 200, answer.text


def colour_latency(daemon: DaemonProcess, canvases: int, changes: int) -> list[float]:
    """Seconds from a colour change written to the file to its `review` event."""
    latencies = []
    colours = (GREEN, PURPLE, RED)
    stream = EventStream(daemon)
    try:
        for i in range(changes):
            index = (i * 13) % canvases
            path = daemon.vault / f"topic{index % 10}" / f"c{index}.canvas"
            doc = json.loads(path.read_text())
            target = doc["nodes"][(i * 3) % len(doc["nodes"])]
            target["color"] = next(c for c in colours if c != target["color"])
            started = time.time()
            path.write_text(obsidian(doc))
            stream.until(lambda e, n=target["id"]: e["kind"] == "review" and e["detail"]["node"] == n, timeout=30)
            latencies.append(time.time() - started)
    finally:
        stream.close()
    return latencies


def in_process_due(db_path: Path, rounds: int) -> dict[str, float]:
    """The due query on the daemon's database: SQL forgetting-curve order vs Python sort by fsrs (ms p50)."""
    import fsrs

    from canvasd.config import ReviewSettings
    from canvasd.review.schedule import Spacing
    from canvasd.review.store import ReviewStore

    store = ReviewStore(db_path)
    store.open()
    spacing = Spacing(ReviewSettings())
    now = time.time()
    until = now + 86400
    sql_ms, python_ms = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        cards, _ = store.due(until, now, None, 50)
        [spacing.retrievability(c.schedule, now) for c in cards]
        sql_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        rows = store._query("SELECT id, state, step, stability, difficulty, due, last_review FROM cards "
                            "WHERE suspended = 0 AND due < ?", (until,))
        at = datetime.fromtimestamp(now, UTC)
        ranked = sorted(rows, key=lambda r: spacing.scheduler.get_card_retrievability(fsrs.Card(
            card_id=r[0], state=fsrs.State(r[1]), step=r[2], stability=r[3], difficulty=r[4],
            due=datetime.fromtimestamp(r[5], UTC),
            last_review=None if r[6] is None else datetime.fromtimestamp(r[6], UTC)), at))[:50]
        python_ms.append((time.perf_counter() - started) * 1000)
        assert len(ranked) == len(cards)
    store.close()
    return {"sql_p50_ms": round(pct(sql_ms, 0.5), 2), "python_fsrs_p50_ms": round(pct(python_ms, 0.5), 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 cards over 40 canvases")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (daemon log)")
    args = parser.parse_args(argv)
    canvases, per_canvas = (40, 50) if args.quick else (200, 50)
    cards = canvases * per_canvas
    root = Path(tempfile.mkdtemp(prefix="canvasd-review-"))
    result: dict[str, Any] = {"benchmark": "review", "mode": "quick" if args.quick else "full", "cards": cards,
                              "canvases": canvases,
                              "env": {"python": platform.python_version(), "cpus": os.cpu_count(),
                                      "platform": platform.platform()}}
    daemon = DaemonProcess(root / "d", config=CONFIG, test_defaults=False, label="review")
    try:
        fill(daemon.vault, canvases, per_canvas)
        started = time.perf_counter()
        daemon.start()
        daemon.wait_for(lambda: daemon.get_json("/v1/review/due?limit=1")["total"] == cards, "every card",
                        timeout=600, poll=0.2)
        result["cards_ready_s"] = round(time.perf_counter() - started, 2)
        reviewed = cards // 5
        started = time.perf_counter()
        rate_some(daemon, canvases, per_canvas, reviewed)
        result["ratings"] = {"cards": reviewed, "per_s": round(reviewed / (time.perf_counter() - started), 1)}
        week = (date.today() + timedelta(days=7)).isoformat()
        today_ms, week_ms = timed_get(daemon, "/v1/review/due", 200), timed_get(daemon, f"/v1/review/due?on={week}",
                                                                                  200)
        result["due"] = {"today_p50_ms": round(pct(today_ms, 0.5), 2), "today_p95_ms": round(pct(today_ms, 0.95), 2),
                         "week_p50_ms": round(pct(week_ms, 0.5), 2), "week_p95_ms": round(pct(week_ms, 0.95), 2),
                         "due_today": daemon.get_json("/v1/review/due?limit=1")["total"]}
        builds = []
        for offset in range(7):
            on = (date.today() + timedelta(days=offset)).isoformat()
            started = time.perf_counter()
            answer = daemon.client.post("/v1/review/canvas", json={"vault": "v", "on": on}, timeout=60)
            builds.append(time.perf_counter() - started)
            assert answer.status_code == 200 and len(answer.json()["added"]) == 30, answer.text
        again = time.perf_counter()
        daemon.client.post("/v1/review/canvas", json={"vault": "v", "on": date.today().isoformat()}, timeout=60)
        result["canvas"] = {"build_p50_s": round(pct(builds, 0.5), 3), "build_max_s": round(max(builds), 3),
                            "rebuild_same_day_s": round(time.perf_counter() - again, 3)}
        latencies = colour_latency(daemon, canvases, 40)
        result["colour_to_review"] = {"p50_s": round(pct(latencies, 0.5), 3), "p95_s": round(pct(latencies, 0.95), 3)}
        result["rss_mb"] = round(daemon.memory()[0], 1)
        daemon.stop()
        result["due_in_process"] = in_process_due(daemon.data / "canvasd" / "review" / "review.sqlite3", 30)
        result["due_in_process"]["gain"] = gain(result["due_in_process"]["sql_p50_ms"],
                                                result["due_in_process"]["python_fsrs_p50_ms"],
                                                higher_is_better=False)
        result["targets"] = [
            target_check(TARGETS, "review_canvas_build_s", result["canvas"]["build_max_s"], "slowest of 7 days"),
            target_check(TARGETS, "due_p95_ms", max(result["due"]["today_p95_ms"], result["due"]["week_p95_ms"])),
            target_check(TARGETS, "colour_to_review_p95_s", result["colour_to_review"]["p95_s"]),
        ]
        print_tables(result)
        print(json.dumps(result, ensure_ascii=False))
        return 0 if all(t["pass"] for t in result["targets"]) else 1
    finally:
        daemon.close()
        if args.keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


def print_tables(result: dict[str, Any]) -> None:
    print(f"\n{result['cards']:,} cards over {result['canvases']} canvases; cards ready {result['cards_ready_s']} s "
          f"after the start; {result['ratings']['cards']:,} rated at {result['ratings']['per_s']} ratings/s")
    due = result["due"]
    print(f"GET /v1/review/due: today p50 {fmt(due['today_p50_ms'])} ms, p95 {fmt(due['today_p95_ms'])} ms; "
          f"a week ahead p50 {fmt(due['week_p50_ms'])} ms, p95 {fmt(due['week_p95_ms'])} ms "
          f"({due['due_today']:,} due today)")
    inproc = result["due_in_process"]
    print(f"due query in-process: SQL forgetting-curve order {fmt(inproc['sql_p50_ms'])} ms vs Python sort by fsrs "
          f"{fmt(inproc['python_fsrs_p50_ms'])} ms (x{inproc['gain']})")
    canvas_ = result["canvas"]
    print(f"review canvas (30 cards): build p50 {fmt(canvas_['build_p50_s'])} s, "
          f"slowest {fmt(canvas_['build_max_s'])} s; "
          f"built again the same day {fmt(canvas_['rebuild_same_day_s'])} s")
    c2r = result["colour_to_review"]
    print(f"colour change -> recorded review: p50 {fmt(c2r['p50_s'])} s, p95 {fmt(c2r['p95_s'])} s; "
          f"daemon RSS {result['rss_mb']} MB")
    for t in result["targets"]:
        print(f"  {'PASS' if t['pass'] else 'MISS'}  {t['name']}: {t['value']} {t['unit']} (target {t['target']})")


if __name__ == "__main__":
    sys.exit(main())
