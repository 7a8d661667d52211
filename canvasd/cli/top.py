"""`canvasd top`: the live dashboard in the terminal (rich), refreshing; `--once` prints one frame for scripts.

For each optimisation whether it is on and what it saved, request latency (p50 / p95 / p99, and p95 over time),
the scheduler's limit and pressure, each subsystem's phase and progress, the cards due today and active alerts.
"""

from __future__ import annotations

import argparse
import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import RenderableType

    from canvasd.cli.client import DaemonClient

_BARS = "▁▂▃▄▅▆▇█"
HISTORY = 60


def add_top_options(parser: argparse.ArgumentParser) -> None:
    """`canvasd top [--once] [--interval S]`."""
    parser.add_argument("--once", action="store_true", help="print one frame and exit (for scripts)")
    parser.add_argument("--interval", type=float, default=1.0, metavar="S", help="seconds between frames (1)")


def sample(client: DaemonClient) -> dict[str, Any]:
    """What one frame shows, from the daemon's summary, health, jobs, alerts, index and review."""
    health = client.json("GET", "/v1/health")
    frame: dict[str, Any] = {"health": health, "summary": client.json("GET", "/v1/metrics/summary"),
                             "jobs": client.json("GET", "/v1/jobs"),
                             "alerts": client.json("GET", "/v1/metrics/alerts").get("alerts", [])}
    phases = health.get("subsystems", {})
    if phases.get("index") not in (None, "off", "failed"):
        frame["index"] = client.json("GET", "/v1/index/status").get("progress")
    if phases.get("review") == "ready":
        frame["due"] = client.json("GET", "/v1/review/due?limit=1").get("total")
    return frame


def sparkline(values: Sequence[float]) -> str:
    """Values as block characters, scaled to the largest."""
    if not values:
        return ""
    top = max(values) or 1.0
    return "".join(_BARS[min(len(_BARS) - 1, int(v / top * (len(_BARS) - 1)))] for v in values)


def render(frame: Mapping[str, Any], p95_history: Sequence[float] = ()) -> RenderableType:
    """One frame of the dashboard."""
    from rich.console import Group
    from rich.table import Table

    summary, health, jobs = frame["summary"], frame["health"], frame["jobs"]
    head = (f"canvasd {health.get('version')} — {health.get('status')}, up {summary.get('uptime_s', 0):.0f} s, "
            f"pid {health.get('pid')}, {health.get('socket')}")
    optimisations = Table(title="optimisations", title_justify="left", expand=False)
    for column in ("optimisation", "on", "saved"):
        optimisations.add_column(column)
    for name, item in summary.get("optimizations", {}).items():
        figures = item.get("saved") or item.get("routes") or {}
        saved = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in figures.items())
        optimisations.add_row(name, "on" if item.get("enabled") else "off", saved or "-")
    requests, latency = summary.get("requests", {}), summary.get("requests", {}).get("latency_ms", {})
    cache, writes = summary.get("cache", {}), summary.get("writes", {})
    pressure = jobs.get("pressure") or {}
    numbers = Table(title="now", title_justify="left", show_header=False)
    numbers.add_column("what")
    numbers.add_column("value")
    numbers.add_row("requests", f"{requests.get('per_second', 0):.1f}/s, {requests.get('in_flight', 0)} in flight, "
                                f"error rate {requests.get('error_rate', 0):.2%}")
    numbers.add_row("latency", f"p50 {latency.get('p50', 0):.2f} ms, p95 {latency.get('p95', 0):.2f} ms, "
                               f"p99 {latency.get('p99', 0):.2f} ms")
    numbers.add_row("p95 over time", sparkline(list(p95_history)) or "-")
    numbers.add_row("read cache", f"hit rate {cache.get('hit_rate', 0):.1%} ({cache.get('hits', 0)} hits, "
                                  f"{cache.get('entries', 0)} entries)")
    numbers.add_row("writes", f"{writes.get('requests', 0)} requests, {writes.get('logical_ops', 0)} ops -> "
                              f"{writes.get('physical_writes', 0)} physical writes")
    cpu, memory = pressure.get("cpu_percent", "-"), pressure.get("memory_percent", "-")
    numbers.add_row("scheduler", f"limit {jobs.get('limit')} of {jobs.get('max')} ({len(jobs.get('running', []))} "
                                 f"running, {len(jobs.get('queued', []))} queued); cpu {cpu} %, memory {memory} %")
    for name, phase in health.get("subsystems", {}).items():
        detail = phase
        if name == "index" and isinstance(frame.get("index"), dict):
            p = frame["index"]
            detail += f" ({p.get('step')}: {p.get('done')} / {p.get('total')} {p.get('unit', '')})"
        if name == "review" and frame.get("due") is not None:
            detail += f" ({frame['due']} cards due today)"
        numbers.add_row(name, detail)
    alerts = frame.get("alerts") or []
    lines = [f"alert {a.get('name')}: {a.get('message')}" for a in alerts] or ["alerts: none"]
    return Group(head, optimisations, numbers, *lines)


def run(client: DaemonClient, args: argparse.Namespace) -> int:
    """Print one frame (`--once`), or refresh until Ctrl-C."""
    from rich.console import Console
    from rich.live import Live

    console = Console()
    history: deque[float] = deque(maxlen=HISTORY)

    def frame() -> RenderableType:
        data = sample(client)
        history.append(float(data["summary"].get("requests", {}).get("latency_ms", {}).get("p95") or 0.0))
        return render(data, history)

    if args.once:
        console.print(frame())
        return 0
    try:
        with Live(frame(), console=console, refresh_per_second=4, screen=False) as live:
            while True:
                time.sleep(max(0.1, args.interval))
                live.update(frame())
    except KeyboardInterrupt:
        return 0
