"""The `canvasd memory search | timeline | stats` commands: clients of the memory graph's HTTP routes."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

if TYPE_CHECKING:
    from canvasd.cli.client import DaemonClient


def add_memory_options(parser: argparse.ArgumentParser) -> None:
    """The arguments of `canvasd memory`."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    search = actions.add_parser("search", help="facts and concepts from the learning history")
    search.add_argument("query", help="what to look for")
    search.add_argument("--vault", help="only this vault")
    search.add_argument("--path", help="only this canvas (needs --vault)")
    search.add_argument("--since", help="facts true at some time since: 7d, 2w, or a date such as 2026-11-01")
    search.add_argument("--until", help="facts true at some time before: same forms as --since")
    search.add_argument("--all", action="store_true", help="include facts that are no longer true")
    search.add_argument("--limit", type=int, help="results to show")
    timeline = actions.add_parser("timeline", help="the learning-state history of one node")
    timeline.add_argument("vault", help="vault name")
    timeline.add_argument("path", help="canvas path inside the vault")
    timeline.add_argument("node", help="node id")
    actions.add_parser("stats", help="graph size, learning states, server and cache")
    for sub in actions.choices.values():
        sub.add_argument("--json", action="store_true", help="print JSON instead of text")


def request(client: DaemonClient, args: argparse.Namespace) -> dict[str, Any]:
    """The daemon's answer to the memory action in `args`."""
    if args.action == "search":
        params: list[tuple[str, str]] = [("q", args.query), ("current_only", "false" if args.all else "true")]
        params += [(name, str(getattr(args, name))) for name in ("vault", "path", "since", "until", "limit")
                   if getattr(args, name) is not None]
        answer: dict[str, Any] = client.json("GET", "/v1/memory/search?" + urlencode(params))
    elif args.action == "timeline":
        query = urlencode({"vault": args.vault, "path": args.path, "node": args.node})
        answer = client.json("GET", "/v1/memory/timeline?" + query)
    else:
        answer = client.json("GET", "/v1/memory/stats")
    return answer


def render(action: str, answer: Mapping[str, Any]) -> str:
    """Readable text for a memory answer."""
    from canvasd.cli import output as out

    if action == "timeline":
        rows = [(str(e.get("state", "")), str(e.get("valid_at") or "?"), str(e.get("invalid_at") or "now"),
                 str(e.get("fact", ""))) for e in answer.get("entries") or []]
        head = f"{answer.get('vault')}:{answer.get('path')} #{answer.get('node_id')} — {answer.get('name', '')}"
        return head + "\n" + (out.table(("state", "from", "until", "fact"), rows) if rows else "no history")
    if action == "stats":
        return out.table(("memory", "value"), [(k, out.value(k, v)) for k, v in out.flatten(answer)])
    facts = [(f"{f.get('score', 0):.3f}", "yes" if f.get("current") else "no", str(f.get("valid_at") or ""),
              str(f.get("fact", ""))) for f in answer.get("facts") or []]
    entities = [(f"{e.get('score', 0):.3f}", str(e.get("name", "")), _one_line(e.get("summary"), 60))
                for e in answer.get("entities") or []]
    parts = [out.table(("score", "current", "since", "fact"), facts) if facts else "no facts",
             out.table(("score", "concept", "summary"), entities) if entities else "no concepts"]
    return "\n".join(parts)


def _one_line(text: Any, limit: int) -> str:
    flat = " ".join(str(text or "").split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"
