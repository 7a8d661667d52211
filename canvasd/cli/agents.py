"""The `canvasd agents`, `canvasd run` and `canvasd runs` commands: clients of the agent routes."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from canvasd.cli.client import quote_segment

if TYPE_CHECKING:
    from canvasd.cli.client import DaemonClient


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The arguments of `canvasd run`."""
    parser.add_argument("agent", help="agent name (canvasd agents lists them)")
    parser.add_argument("vault", help="vault name")
    parser.add_argument("path", help="canvas path inside the vault")
    parser.add_argument("nodes", nargs="*", metavar="NODE", help="node ids to work on")
    parser.add_argument("--state", help="every node in this learning state (e.g. not_understood): a batch run")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="an agent option (repeatable; VALUE true/false/numbers are typed), e.g. style=plain")
    parser.add_argument("--wait", action="store_true", help="wait until the run has ended and show what it did")


def add_runs_options(parser: argparse.ArgumentParser) -> None:
    """The arguments of `canvasd runs`."""
    parser.add_argument("id", nargs="?", help="one run's id (default: every kept run)")
    parser.add_argument("--cancel", action="store_true", help="cancel the run ID")


def start(client: DaemonClient, args: argparse.Namespace) -> dict[str, Any]:
    """Ask the daemon for a run."""
    body: dict[str, Any] = {"vault": args.vault, "path": args.path, "nodes": list(args.nodes), "wait": args.wait,
                            "options": dict(_option(text) for text in args.option)}
    if args.state:
        body["state"] = args.state
    answer: dict[str, Any] = client.json("POST", f"/v1/agents/{quote_segment(args.agent)}/runs", body)
    return answer


def _option(text: str) -> tuple[str, Any]:
    from canvasd.cli.commands import UsageError

    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise UsageError(f"--option takes KEY=VALUE, not {text!r}")
    typed: Any = {"true": True, "false": False}.get(raw.lower(), raw)
    if typed is raw and raw.lstrip("-").isdigit():
        typed = int(raw)
    return key, typed


def runs(client: DaemonClient, args: argparse.Namespace) -> dict[str, Any]:
    """The runs (or one, or cancel one)."""
    if args.id is None:
        listing: dict[str, Any] = client.json("GET", "/v1/agents/runs")
        return listing
    method = "DELETE" if args.cancel else "GET"
    one: dict[str, Any] = client.json(method, f"/v1/agents/runs/{quote_segment(args.id)}")
    return one


def agents_table(answer: Mapping[str, Any]) -> str:
    """The agents as a table."""
    from canvasd.cli import output as out

    rows = [(str(a.get("name")), ", ".join(a.get("targets") or []) or "any",
             "yes" if a.get("needs_llm") else "", str(a.get("description", ""))) for a in answer.get("agents") or []]
    return out.table(("agent", "works on", "needs LLM", "what it does"), rows)


def run_text(run: Mapping[str, Any]) -> str:
    """One run, for people: its state, what it added, its summary or error."""
    lines = [f"run {run.get('id')}: {run.get('agent')} on {run.get('vault')}:{run.get('path')} — {run.get('state')}"]
    if "nodes_added" in run:
        lines.append(f"added {run.get('nodes_added')} nodes and {run.get('edges_added')} edges"
                     f" in {_seconds(run.get('run_s'))} (waited {_seconds(run.get('queued_s'))})")
    result = run.get("result") or {}
    for key in ("summary", "note", "fallback"):
        if result.get(key):
            lines.append(f"{key}: {result[key]}")
    if run.get("error"):
        lines.append(f"error: {run['error']}")
    return "\n".join(lines)


def runs_table(runs: Sequence[Mapping[str, Any]]) -> str:
    """Runs as a table, newest first."""
    from canvasd.cli import output as out

    rows = [(str(r.get("id")), str(r.get("agent")), str(r.get("state")), f"{r.get('vault')}:{r.get('path')}",
             str(r.get("nodes_added")), _seconds(r.get("run_s")), str(r.get("error") or "")) for r in runs]
    return out.table(("run", "agent", "state", "canvas", "added", "took", "error"), rows) if rows else "no runs"


def _seconds(value: Any) -> str:
    return f"{value * 1000:.0f} ms" if isinstance(value, int | float) else "-"
