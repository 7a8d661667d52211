"""`canvasd top`: one frame of the dashboard from a real daemon (`--once`), and its pieces."""

from __future__ import annotations

import subprocess
from pathlib import Path

from canvasd.cli.top import sparkline
from tests.support.daemon import canvasd_command, running_daemon

RED_NODE = '{"nodes":[{"id":"a","type":"text","text":"x","x":0,"y":0,"width":10,"height":10,"color":"1"}],"edges":[]}'


def test_one_frame_shows_optimisations_latency_scheduler_subsystems_and_cards_due(tmp_path: Path) -> None:
    with running_daemon(tmp_path / "d", config={"review": {"enabled": True, "daily_canvas": False}}) as daemon:
        (daemon.vault / "a.canvas").write_text(RED_NODE)
        daemon.wait_background()
        daemon.wait_for(lambda: daemon.get_json("/v1/review/due?limit=1")["total"] == 1, "the card")
        run = subprocess.run([*canvasd_command(), "--socket", str(daemon.socket), "top", "--once"],
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        frame = run.stdout
        for expected in ("optimisations", "read_cache", "batch_writer", "latency", "p95", "scheduler", "limit",
                         "watcher", "review", "1 cards due today", "alerts: none"):
            assert expected in frame, (expected, frame)
        assert "index " in frame and "off" in frame


def test_no_daemon_gives_the_one_line_hint(tmp_path: Path) -> None:
    run = subprocess.run([*canvasd_command(), "--socket", str(tmp_path / "none.sock"), "top", "--once"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 3 and "no daemon is listening" in run.stderr


def test_the_sparkline_scales_to_the_largest_value() -> None:
    assert sparkline([]) == ""
    assert sparkline([0.0, 1.0, 2.0, 4.0]) == "▁▂▄█"
    assert sparkline([0.0, 0.0]) == "▁▁"
