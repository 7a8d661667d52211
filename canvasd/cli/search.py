"""The `canvasd search` and `canvasd index status|rebuild` commands: clients of the index's HTTP routes."""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from canvasd.subsystem import Phase

SETTLED = frozenset(phase.value for phase in Phase if phase.settled)

if TYPE_CHECKING:
    from canvasd.cli.client import DaemonClient



def add_search_options(parser: argparse.ArgumentParser) -> None:
    """The arguments of `canvasd search`."""
    parser.add_argument("query", help="what to look for, in any language")
    parser.add_argument("--mode", choices=("hybrid", "vector", "fts"), default="hybrid",
                        help="hybrid (default): meaning and words; vector: meaning; fts: words")
    parser.add_argument("--vault", help="only this vault")
    parser.add_argument("--path", metavar="PREFIX", help="only canvases whose path starts with PREFIX")
    parser.add_argument("--type", action="append", default=[], choices=("text", "file", "link", "group"),
                        help="only this node type (repeatable)")
    parser.add_argument("--state", action="append", default=[],
                        help="only this learning state, e.g. not_understood (repeatable)")
    parser.add_argument("--since", help="changed since: 7d, 24h, 2w, or a date such as 2026-11-01")
    parser.add_argument("--until", help="changed before: same forms as --since")
    parser.add_argument("--limit", type=int, default=10, help="results to show (default 10)")


def add_index_options(parser: argparse.ArgumentParser) -> None:
    """The arguments of `canvasd index`."""
    parser.add_argument("action", choices=("status", "rebuild"), help="status: progress and size; rebuild: "
                        "drop the index and build it again")
    parser.add_argument("--follow", "-f", action="store_true", help="show a progress bar until the index is ready")


def search(client: DaemonClient, args: argparse.Namespace) -> dict[str, Any]:
    """Run one search; the daemon's answer."""
    params: list[tuple[str, str]] = [("q", args.query), ("mode", args.mode), ("limit", str(args.limit))]
    for name in ("vault", "path", "since", "until"):
        if getattr(args, name):
            params.append((name, getattr(args, name)))
    params += [("type", t) for t in args.type] + [("state", s) for s in args.state]
    answer: dict[str, Any] = client.json("GET", "/v1/search?" + urlencode(params))
    return answer


def search_table(answer: Mapping[str, Any]) -> str:
    """Search hits as a readable table, with a note when the index is still being built."""
    from canvasd.cli import output as out

    hits = answer.get("results") or []
    rows = [(f"{hit.get('score', 0):.3f}", f"{hit.get('vault')}:{hit.get('path')}", str(hit.get("node_id", "")),
             str(hit.get("state", "")), out.moment(hit.get("last_changed")), _clip(str(hit.get("snippet", "")), 60))
            for hit in hits]
    text = out.table(("score", "canvas", "node", "state", "changed", "snippet"), rows, right=(0,)) if rows \
        else "no matches"
    note = f"{len(hits)} result(s), {answer.get('mode')} search, {answer.get('took_ms')} ms"
    if answer.get("partial"):
        progress = answer.get("index") or {}
        note += (f" — partial: the index is {progress.get('step')} "
                 f"({progress.get('done')}/{progress.get('total')} {progress.get('unit', '')})")
    return text + "\n" + note


def index_status_text(status: Mapping[str, Any]) -> str:
    """The index status as a key/value table."""
    from canvasd.cli import output as out

    rows = [(key, out.value(key, item)) for key, item in out.flatten(status)]
    return out.table(("index", "value"), rows)


def follow_progress(client: DaemonClient, status: Mapping[str, Any]) -> int:
    """Draw a progress bar from the feed's index_progress events until the index settles; exit status."""
    progress = status.get("progress") or {}
    if status.get("state") in SETTLED:
        print(f"index {status.get('state')}: {status.get('rows', 0)} nodes")
        return 0 if status.get("state") != "failed" else 1
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task(progress.get("step", "starting"), total=progress.get("total") or None)
        for detail in _progress_events(client):
            bar.update(task, description=detail.get("step", "?"), completed=detail.get("done", 0),
                       total=detail.get("total") or None)
            if detail.get("phase") in SETTLED:
                break
    final = client.json("GET", "/v1/index/status")
    print(f"index {final.get('state')}: {final.get('rows', 0)} nodes"
          + (f" — {final['progress'].get('error')}" if final.get("state") == "failed" else ""))
    return 0 if final.get("state") != "failed" else 1


def _progress_events(client: DaemonClient) -> Iterator[dict[str, Any]]:
    for event in client.events():
        if event.get("kind") == "index_progress" and isinstance(event.get("detail"), dict):
            yield event["detail"]
        elif event.get("kind") == "reset":
            status = client.json("GET", "/v1/index/status")
            yield status.get("progress") or {"phase": status.get("state")}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"
