"""Human-readable text for the CLI: aligned tables and one-line summaries of the daemon's JSON answers."""

from __future__ import annotations

import sys
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from canvasd.cli.user_service import ActionResult, ServiceStatus

_MISSING = "-"


def width(text: str) -> int:
    """Terminal columns `text` takes: wide East Asian characters (极限) take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], right: Iterable[int] = ()) -> str:
    """Rows as aligned columns under upper-case headers; columns in `right` are right-aligned (numbers)."""
    grid = [[h.upper() for h in headers], *([str(cell) for cell in row] for row in rows)]
    widths = [max(width(row[i]) for row in grid) for i in range(len(headers))]
    right = set(right)
    lines = []
    for row in grid:
        cells = []
        for i, cell in enumerate(row):
            pad = " " * (widths[i] - width(cell))
            cells.append(pad + cell if i in right else cell + pad)
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def size(n: Any) -> str:
    """Bytes in the units `ls -h` uses."""
    if not isinstance(n, int | float):
        return _MISSING
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def moment(value: Any, with_date: bool = True) -> str:
    """A timestamp (epoch seconds or ISO 8601 text) in local time."""
    when: datetime | None = None
    if isinstance(value, int | float):
        when = datetime.fromtimestamp(value)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value
        when = parsed.astimezone() if parsed.tzinfo else parsed
    if when is None:
        return _MISSING
    return when.strftime("%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S")


def duration(seconds: Any) -> str:
    """Seconds as '3d 4h', '5m 12s', '2.5s' or '12ms'."""
    if not isinstance(seconds, int | float):
        return _MISSING
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {minutes}m" if hours else f"{minutes}m {secs}s"


def value(key: str, item: Any) -> str:
    """One metric value: booleans as on/off, rates in [0, 1] as percentages, floats rounded."""
    if item is None:
        return _MISSING
    if isinstance(item, bool):
        return "on" if item else "off"
    if isinstance(item, float):
        if key.endswith("rate") and 0 <= item <= 1:
            return f"{item * 100:.1f} %"
        return f"{item:.3g}" if abs(item) < 1000 else f"{item:.0f}"
    return str(item)


def status(health: Mapping[str, Any], vaults: Sequence[Mapping[str, Any]]) -> str:
    """The daemon's health and its vaults."""
    lines = [f"canvasd {health.get('version', '?')} is running: pid {health.get('pid', '?')}, "
             f"up {duration(health.get('uptime_s'))}, socket {health.get('socket', '?')}"]
    subsystems = health.get("subsystems") or {}
    if subsystems:
        lines.append("subsystems: " + ", ".join(f"{name} {state}" for name, state in subsystems.items()))
    if not vaults:
        lines.append("vaults: none (start the daemon with --vault NAME=DIR)")
        return "\n".join(lines)
    lines.append(f"vaults: {len(vaults)}")
    rows = [(v.get("name", "?"), v.get("root", "?"), "" if v.get("exists", True) else "(missing)") for v in vaults]
    lines += ["  " + line for line in table(("name", "folder", ""), rows).splitlines()[1:]]
    return "\n".join(lines)


def canvas_table(canvases: Sequence[Mapping[str, Any]]) -> str:
    """The canvases of a vault: path, nodes, edges, size, modified (and the problem, if any)."""
    rows = []
    with_errors = any(c.get("error") for c in canvases)
    for item in sorted(canvases, key=lambda c: str(c.get("path", ""))):
        row = [str(item.get("path", "?")), value("nodes", item.get("nodes")), value("edges", item.get("edges")),
               size(item.get("size")), moment(item.get("mtime"))]
        if with_errors:
            row.append(str(item.get("error") or ""))
        rows.append(row)
    headers = ["path", "nodes", "edges", "size", "modified"] + (["problem"] if with_errors else [])
    return table(headers, rows, right=(1, 2, 3))


def write_result(http_status: int, answer: Mapping[str, Any], vault: str, path: str) -> str:
    """One line saying what a write did."""
    where = f"{answer.get('vault', vault)}:{answer.get('path', path)}"
    if http_status == 202:
        return f"accepted {where} (it is committed in the background)"
    if answer.get("deleted"):
        return f"deleted {where}"
    verb = "created" if answer.get("created") else ("updated" if answer.get("written", True) else "unchanged")
    return f"{verb} {where} (version {answer.get('version', '?')})"


def event_line(event: Mapping[str, Any]) -> str:
    """One change event: time, kind, origin, vault:path, short version."""
    where = f"{event.get('vault') or _MISSING}:{event.get('path') or ''}".rstrip(":")
    version = str(event.get("version") or _MISSING)[:12]
    detail = event.get("detail")
    if event.get("kind") == "agent_run" and isinstance(detail, Mapping):  # which run, and where it is
        version = f"{detail.get('agent')} {detail.get('id')} {detail.get('state')}"
    return (f"{moment(event.get('time'), with_date=False)}  {event.get('kind', '?'):<14} "
            f"{event.get('origin') or _MISSING:<8} {where}  {version}  #{event.get('cursor', '?')}")


def flatten(data: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested mappings as (dotted key, leaf) pairs, in order."""
    pairs: list[tuple[str, Any]] = []
    for key, item in data.items():
        name = f"{prefix}{key}"
        if isinstance(item, Mapping):
            pairs += flatten(item, name + ".")
        else:
            pairs.append((name, item))
    return pairs


def stats(summary: Mapping[str, Any], alerts: Sequence[Mapping[str, Any]]) -> str:
    """The metrics summary as a metric/value table, then the alerts."""
    rows = [(key, value(key, item)) for key, item in flatten(summary)]
    text = table(("metric", "value"), rows, right=(1,))
    if not alerts:
        return text + "\nalerts: none"
    return text + "\nalerts:\n" + "\n".join(f"  {a.get('name', '?')}: {a.get('message', '')}" for a in alerts)


def jobs(report: Mapping[str, Any]) -> str:
    """The scheduler's limit and pressure, then its running, queued and recent jobs."""
    mode = "adaptive" if report.get("adaptive") else "fixed"
    head = f"limit {report.get('limit', '?')} (min {report.get('min', '?')}, max {report.get('max', '?')}, {mode})"
    pressure = report.get("pressure")
    if pressure:
        head += (f"; cpu {value('cpu', pressure.get('cpu_percent'))} %, "
                 f"memory {value('memory', pressure.get('memory_percent'))} %")
    rows = [(job.get("state") or group, str(job.get("id", "?")), str(job.get("kind", "")), str(job.get("name", "")),
             value("priority", job.get("priority")), duration(job.get("wait_s")), duration(job.get("duration_s")),
             str(job.get("error") or ""))
            for group in ("running", "queued", "recent") for job in report.get(group) or []]
    if not rows:
        return head + "\nno jobs"
    return head + "\n" + table(("state", "id", "kind", "name", "priority", "wait", "duration", "error"), rows,
                               right=(4, 5, 6))


def service_status(state: ServiceStatus) -> str:
    """Whether the service file is installed and what the service manager says."""
    installed = f"installed at {state.path}" if state.installed else f"not installed (it would go to {state.path})"
    if state.state is not None:
        running = f"{state.manager} reports it {state.state}"
    else:
        running = f"{state.manager} cannot be asked ({state.detail or 'unknown reason'})"
    return f"service: {installed}; {running}"


def print_service_result(result: ActionResult, verb: str, dry_run: bool) -> None:
    """Report an install or uninstall on stderr (stdout stays free for the dry-run file)."""
    err = sys.stderr
    if dry_run:
        if verb == "install":
            print(f"canvasd: dry run: would write {result.path}", file=err)
        elif result.pending:
            print(f"canvasd: dry run: would remove {result.path}", file=err)
        else:
            print(f"canvasd: dry run: nothing to remove ({result.path} does not exist)", file=err)
        for step in result.pending:
            print(f"canvasd: dry run: would run: {step}", file=err)
        return
    if verb == "remove" and not result.changed:
        print(f"canvasd: the service is not installed ({result.path} does not exist); nothing to remove", file=err)
        return
    done = "wrote" if verb == "install" else "removed"
    print(f"canvasd: {done} {result.path}", file=err)
    for step in result.ran:
        print(f"canvasd: ran: {step}", file=err)
    if result.failed:
        print(f"canvasd: warning: {result.manager} could not be used: {result.failed}", file=err)
        print("canvasd: run these where your session's service manager is reachable:", file=err)
        for step in result.pending:
            print(f"    {step}", file=err)
