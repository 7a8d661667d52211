"""The `canvasd review` command: today's due cards, the day's review canvas, a rating, the statistics."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from canvasd.cli.client import quote_segment

if TYPE_CHECKING:
    from canvasd.cli.client import DaemonClient


def add_review_options(parser: argparse.ArgumentParser) -> None:
    """`canvasd review [--vault V] [--on DATE]`, and its actions canvas, rate and stats."""
    parser.add_argument("--vault", help="only this vault")
    parser.add_argument("--on", metavar="DATE", help="the day (YYYY-MM-DD; default today)")
    parser.add_argument("--limit", type=int, default=50, help="cards to list (default 50)")
    actions = parser.add_subparsers(dest="review_command", metavar="ACTION")
    canvas = actions.add_parser("canvas", help="build (or complete) the day's review canvas and print its path")
    canvas.add_argument("vault", nargs="?", help="vault name (default: the only vault)")
    canvas.add_argument("--on", dest="canvas_on", metavar="DATE", help="the day (YYYY-MM-DD; default today)")
    rate = actions.add_parser("rate", help="record a review of one node's card: again, hard, good or easy")
    rate.add_argument("vault", help="vault name")
    rate.add_argument("path", help="canvas path inside the vault")
    rate.add_argument("node", help="node id")
    rate.add_argument("rating", choices=("again", "hard", "good", "easy"), help="how well you recalled it")
    actions.add_parser("stats", help="due today, overdue, reviewed today, forecast, retention, streak")


def request(client: DaemonClient, args: argparse.Namespace) -> dict[str, Any]:
    """The answer of the route the arguments ask for."""
    action = args.review_command
    answer: dict[str, Any]
    if action == "canvas":
        vault = args.vault or _only_vault(client)
        body: dict[str, Any] = {"vault": vault}
        if args.canvas_on or args.on:
            body["on"] = args.canvas_on or args.on
        answer = client.json("POST", "/v1/review/canvas", body)
    elif action == "rate":
        answer = client.json("POST", f"/v1/review/cards/{quote_segment(args.vault)}/{_path(args.path)}/nodes/"
                                     f"{quote_segment(args.node)}/ratings", {"rating": args.rating})
    elif action == "stats":
        answer = client.json("GET", "/v1/review/stats" + _query(vault=args.vault))
    else:
        answer = client.json("GET", "/v1/review/due" + _query(vault=args.vault, on=args.on, limit=str(args.limit)))
    return answer


def _only_vault(client: DaemonClient) -> str:
    from canvasd.cli.commands import UsageError

    vaults = client.json("GET", "/v1/vaults").get("vaults") or []
    if len(vaults) != 1:
        raise UsageError(f"name the vault: the daemon serves {len(vaults)} vaults")
    return str(vaults[0]["name"])


def _path(path: str) -> str:
    return "/".join(quote_segment(part) for part in path.split("/"))


def _query(**params: str | None) -> str:
    given = {k: v for k, v in params.items() if v}
    return "?" + urlencode(given) if given else ""


def text(args: argparse.Namespace, answer: Mapping[str, Any]) -> str:
    """The answer, for people."""
    action = args.review_command
    if action == "canvas":
        added = len(answer.get("added") or [])
        return (f"{answer.get('vault')}:{answer.get('path')} — {len(answer.get('cards') or [])} cards"
                f" ({added} added now)")
    if action == "rate":
        card, review = answer.get("card") or {}, answer.get("review") or {}
        counted = "" if review.get("scheduled") else " (logged; only the first review of a day counts)"
        return f"{card.get('title')}: {review.get('rating')}{counted}; next review {card.get('due')}"
    if action == "stats":
        return stats_text(answer)
    return due_table(answer)


def due_table(answer: Mapping[str, Any]) -> str:
    """The due cards as a table, lowest retrievability first."""
    from canvasd.cli import output as out

    cards = answer.get("cards") or []
    if not cards:
        return f"nothing to review on {answer.get('on')}"
    rows = [(str(c.get("title")), f"{c.get('vault')}:{c.get('path')}", str(c.get("node")), str(c.get("state")),
             f"{c.get('retrievability', 0):.0%}", str(c.get("due"))) for c in cards]
    table = out.table(("card", "canvas", "node", "state", "recall", "due"), rows)
    return f"{answer.get('total')} cards due on {answer.get('on')}\n{table}"


def stats_text(stats: Mapping[str, Any]) -> str:
    """The review statistics, one per line."""
    retention = stats.get("retention")
    lines = [f"cards: {stats.get('cards')}", f"due today: {stats.get('due_today')} "
             f"(overdue {stats.get('overdue')})", f"reviewed today: {stats.get('reviewed_today')}",
             f"next 7 days: {stats.get('next_7_days')}, next 30 days: {stats.get('next_30_days')}",
             f"retention (30 days): {'-' if retention is None else f'{retention:.0%}'}",
             f"streak: {stats.get('streak_days')} days"]
    return "\n".join(lines)
