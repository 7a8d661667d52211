"""The `canvasd` command line. Heavy modules are imported inside the commands, so `--help` is instant.

Every command except `serve`, `service` and `config` is a client of the daemon's HTTP API over its Unix
socket; none of them opens a vault file. Exit codes: 0 ok, 1 the daemon answered with an error, 2 usage or
configuration error, 3 no daemon is listening.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from canvasd import __version__
from canvasd.errors import HIDDEN, CanvasdError

if TYPE_CHECKING:
    from canvasd.cli.client import ClientResponse, DaemonClient

EXIT_OK, EXIT_API, EXIT_USAGE, EXIT_NO_DAEMON = 0, 1, 2, 3


class UsageError(CanvasdError):
    """The command line asks for something that cannot be done (bad OPS, unreadable input file)."""

    status = 400
    code = "usage"
    template = "{reason}"
    reason: str = field(metadata=HIDDEN)


def _vault_arg(text: str) -> tuple[str, str]:
    """Parse `NAME=DIR`; DIR becomes absolute, since the daemon (or a service) may run elsewhere."""
    name, sep, folder = text.partition("=")
    if not sep or not name.strip() or not folder.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=DIR (e.g. --vault notes=~/Obsidian/Notes), got {text!r}")
    return name.strip(), os.path.abspath(os.path.expanduser(folder.strip()))


def _socket_option(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument("--socket", type=Path, default=default, metavar="PATH",
                        help="Unix socket of the daemon (default: $CANVASD_DAEMON__SOCKET, else "
                             "$XDG_RUNTIME_DIR/canvasd/canvasd.sock)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="canvasd", description="canvasd: fast, safe Obsidian canvases.",
                                     epilog="exit status: 0 ok, 1 the daemon refused, 2 usage or configuration "
                                            "error, 3 no daemon is running")
    parser.add_argument("--version", action="version", version=f"canvasd {__version__}")
    _socket_option(parser, None)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, handler: Callable[[argparse.Namespace], int], help_text: str,
                json_flag: bool = False) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        # SUPPRESS: a --socket given before the command must not be reset by the subcommand's default.
        _socket_option(sub, argparse.SUPPRESS)
        if json_flag:
            sub.add_argument("--json", action="store_true", help="print JSON instead of text")
        sub.set_defaults(handler=handler)
        return sub

    serve = command("serve", _serve, "run the daemon in the foreground")
    _serve_options(serve)
    command("status", _status, "show whether the daemon runs, and its vaults", json_flag=True)
    listing = command("ls", _ls, "list the canvases of a vault", json_flag=True)
    listing.add_argument("vault", help="vault name")
    cat = command("cat", _cat, "print a canvas (its exact bytes)", json_flag=True)
    _canvas_args(cat)
    put = command("put", _put, "create or replace a canvas with a whole JSON document", json_flag=True)
    _canvas_args(put)
    put.add_argument("file", nargs="?", default="-", help="JSON file to send, or - for stdin (default)")
    _write_options(put)
    patch = command("patch", _patch, "apply a list of ops to a canvas, all or nothing", json_flag=True)
    _canvas_args(patch)
    patch.add_argument("ops", help="ops as JSON (a list, or {\"ops\": [...]}), @FILE, or - for stdin")
    _write_options(patch)
    remove = command("rm", _rm, "delete a canvas", json_flag=True)
    _canvas_args(remove)
    _write_options(remove)
    command("flush", _flush, "commit every pending write now", json_flag=True)
    events = command("events", _events, "follow the change feed (Ctrl-C to stop)", json_flag=True)
    events.add_argument("--since", type=int, metavar="CURSOR", help="first replay the events after CURSOR")
    command("stats", _stats, "show the metrics summary and alerts", json_flag=True)
    command("jobs", _jobs, "show the job scheduler: limit, running, queued and recent jobs", json_flag=True)
    from canvasd.cli import top as cli_top

    cli_top.add_top_options(command("top", _top, "the live dashboard: optimisations, latency, scheduler, subsystems"))
    from canvasd.cli import search as cli_search

    cli_search.add_search_options(command("search", _search, "search every canvas node by meaning and words",
                                          json_flag=True))
    cli_search.add_index_options(command("index", _index, "show the semantic index's progress, or rebuild it",
                                         json_flag=True))
    from canvasd.cli import memory as cli_memory

    cli_memory.add_memory_options(command("memory", _memory, "search the learning history, show a node's timeline"))
    from canvasd.cli import agents as cli_agents

    command("agents", _agents, "list the learning agents", json_flag=True)
    cli_agents.add_run_options(command("run", _run, "run an agent on nodes of a canvas", json_flag=True))
    cli_agents.add_runs_options(command("runs", _runs, "show agent runs (or one, or cancel one)", json_flag=True))
    from canvasd.cli import review as cli_review

    cli_review.add_review_options(command("review", _review, "today's due review cards; the review canvas, a "
                                                              "rating, statistics", json_flag=True))
    _service_parser(command("service", _service, "install, remove or inspect the per-user service"))
    _config_parser(command("config", _config, "show or check the configuration"))
    return parser


def _serve_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--vault", action="append", type=_vault_arg, default=[], metavar="NAME=DIR",
                        help="serve folder DIR as vault NAME (repeatable; merged over the config file's vaults)")
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="YAML file with settings (same keys as config/optimization.yaml)")


def _canvas_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("vault", help="vault name")
    parser.add_argument("path", help="canvas path inside the vault, e.g. Math/limits.canvas")


def _write_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--if-match", metavar="VERSION", help="write only if the canvas is still at VERSION")
    parser.add_argument("--no-wait", action="store_true", help="return once accepted, before the commit")


def _service_parser(service: argparse.ArgumentParser) -> None:
    actions = service.add_subparsers(dest="service_command", metavar="ACTION", required=True)
    install = actions.add_parser("install", help="write the service file and start the service")
    _serve_options(install)
    uninstall = actions.add_parser("uninstall", help="stop the service and remove its file")
    state = actions.add_parser("status", help="show whether the service is installed and running")
    state.add_argument("--json", action="store_true", help="print JSON instead of text")
    for sub in (install, uninstall):
        sub.add_argument("--dry-run", action="store_true", help="print what would be done; change nothing")
    for sub in (install, uninstall, state):
        sub.add_argument("--manager", choices=("systemd", "launchd"),
                         help="service manager (default: systemd on Linux, launchd on macOS)")
        _socket_option(sub, argparse.SUPPRESS)


def _config_parser(config: argparse.ArgumentParser) -> None:
    actions = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="print the effective settings (defaults, file, environment)")
    show.add_argument("--config", type=Path, help="YAML file with settings (same keys as config/optimization.yaml)")
    show.add_argument("--json", action="store_true", help="print JSON instead of YAML")
    check = actions.add_parser("check", help="validate a config file; exit 2 if it is invalid")
    check.add_argument("file", type=Path, help="YAML file to check")


# --- commands that run locally -------------------------------------------------------------------------------

def _serve(args: argparse.Namespace) -> int:
    from canvasd.config import load_settings
    from canvasd.errors import ConfigError

    overrides: dict[str, Any] = {}
    if args.vault:
        overrides["vaults"] = _vault_map(args.vault)
    if args.socket is not None:
        overrides["socket"] = str(args.socket)
    try:
        settings = load_settings(args.config, daemon=overrides) if overrides else load_settings(args.config)
    except ConfigError as exc:
        return _fail(exc, EXIT_USAGE)
    from canvasd.daemon import serve

    return serve(settings)


def _vault_map(pairs: list[tuple[str, str]]) -> dict[str, str]:
    vaults: dict[str, str] = {}
    for name, folder in pairs:
        if name in vaults:
            raise UsageError(f"vault '{name}' is given twice (--vault {name}={vaults[name]} and {name}={folder})")
        vaults[name] = folder
    return vaults


def _config(args: argparse.Namespace) -> int:
    from canvasd.config import load_settings
    from canvasd.errors import ConfigError

    try:
        settings = load_settings(args.config if args.config_command == "show" else args.file)
    except ConfigError as exc:
        return _fail(exc, EXIT_USAGE)
    if args.config_command == "check":
        print(f"{args.file}: ok")
        return EXIT_OK
    data = settings.model_dump(mode="json")
    if args.json:
        _print_json(data)
    else:
        import yaml

        print(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), end="")
    return EXIT_OK


def _service(args: argparse.Namespace) -> int:
    from canvasd.cli import output as out
    from canvasd.cli import user_service as service

    if args.service_command == "status":
        state = service.status(args.manager)
        if args.json:
            _print_json(state.as_dict())
        else:
            print(out.service_status(state))
        return EXIT_OK
    if args.service_command == "uninstall":
        result = service.uninstall(args.manager, dry_run=args.dry_run)
        out.print_service_result(result, "remove", dry_run=args.dry_run)
        return EXIT_OK
    exec_args, env = _service_command(args)
    result = service.install(exec_args, env, args.manager, dry_run=args.dry_run)
    if args.dry_run:
        sys.stdout.write(result.text)  # alone on stdout, so `> canvasd.service` gives a usable file
    out.print_service_result(result, "install", dry_run=args.dry_run)
    return EXIT_OK


def _service_command(args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """The `serve` command line and environment the service runs with."""
    from canvasd.cli import user_service as service
    from canvasd.paths import client_socket_path

    if not sys.executable:
        raise UsageError("cannot tell which Python runs canvasd (sys.executable is empty)")
    argv = [sys.executable, "-m", "canvasd.cli", "serve"]
    for name, folder in _vault_map(args.vault).items():
        argv += ["--vault", f"{name}={folder}"]
    if args.config is not None:
        argv += ["--config", os.path.abspath(args.config)]
    socket = args.socket
    if socket is None and (args.manager or service.platform_manager()) == "launchd":
        # launchd agents get another temp dir than Terminal, so the default socket would differ: pin it.
        socket = client_socket_path()
    if socket is not None:
        argv += ["--socket", os.path.abspath(socket)]
    # The service does not inherit this shell's environment: carry over canvasd's own settings.
    env = {"PYTHONUNBUFFERED": "1", **{k: v for k, v in os.environ.items() if k.startswith("CANVASD_")}}
    return argv, env


# --- client commands -------------------------------------------------------------------------------------------

def _client(args: argparse.Namespace) -> DaemonClient:
    from canvasd.cli.client import DaemonClient
    from canvasd.paths import client_socket_path

    return DaemonClient(client_socket_path(args.socket))


def _status(args: argparse.Namespace) -> int:
    from canvasd.cli import output as out

    client = _client(args)
    health = client.json("GET", "/v1/health")
    vaults = client.json("GET", "/v1/vaults").get("vaults", [])
    if args.json:
        _print_json({"health": health, "vaults": vaults})
    else:
        print(out.status(health, vaults))
    return EXIT_OK


def _ls(args: argparse.Namespace) -> int:
    from canvasd.cli import output as out
    from canvasd.cli.client import quote_segment

    listing = _client(args).json("GET", f"/v1/vaults/{quote_segment(args.vault)}/canvases")
    if args.json:
        _print_json(listing)
    elif listing.get("canvases"):
        print(out.canvas_table(listing["canvases"]))
    else:
        print(f"canvasd: vault '{args.vault}' has no canvases", file=sys.stderr)
    return EXIT_OK


def _cat(args: argparse.Namespace) -> int:
    from canvasd.cli.client import canvas_url

    response = _client(args).request("GET", canvas_url(args.vault, args.path)).raise_for_error()
    if args.json:
        _print_json({"vault": args.vault, "path": args.path, "version": response.version(),
                     "canvas": response.json()})
    else:
        sys.stdout.buffer.write(response.body)
        sys.stdout.buffer.flush()
    return EXIT_OK


def _put(args: argparse.Namespace) -> int:
    body = _read_input(args.file, "the canvas")
    return _write(args, "PUT", body)


def _patch(args: argparse.Namespace) -> int:
    text = _read_input(args.ops[1:], "OPS") if args.ops.startswith("@") else (
        _read_input("-", "OPS") if args.ops == "-" else args.ops.encode("utf-8"))
    try:
        ops = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"OPS is not valid JSON: {exc}") from None
    if isinstance(ops, list):
        ops = {"ops": ops}
    if not isinstance(ops, dict) or not isinstance(ops.get("ops"), list):
        raise UsageError('OPS must be a JSON list of ops or an object {"ops": [...]}')
    return _write(args, "PATCH", json.dumps(ops, ensure_ascii=False).encode("utf-8"))


def _rm(args: argparse.Namespace) -> int:
    return _write(args, "DELETE", None)


def _write(args: argparse.Namespace, method: str, body: bytes | None) -> int:
    from canvasd.cli import output as out
    from canvasd.cli.client import canvas_url

    url = canvas_url(args.vault, args.path) + ("?wait=false" if args.no_wait else "")
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    if args.if_match:
        headers["If-Match"] = args.if_match if args.if_match.startswith('"') else f'"{args.if_match}"'
    response: ClientResponse = _client(args).request(method, url, body, headers).raise_for_error()
    answer = response.json()
    if args.json:
        _print_json(answer)
    else:
        print(out.write_result(response.status, answer, args.vault, args.path))
    return EXIT_OK


def _flush(args: argparse.Namespace) -> int:
    answer = _client(args).json("POST", "/v1/flush")
    if args.json:
        _print_json(answer)
    else:
        print("flushed: every pending write is committed")
    return EXIT_OK


def _events(args: argparse.Namespace) -> int:
    from canvasd.cli import output as out

    if args.since is not None and args.since < 0:
        raise UsageError(f"--since takes a cursor >= 0, not {args.since}")
    try:
        for event in _client(args).events(args.since):
            print(json.dumps(event, ensure_ascii=False) if args.json else out.event_line(event), flush=True)
    except KeyboardInterrupt:
        return EXIT_OK
    print("canvasd: the daemon closed the event stream (it is shutting down?)", file=sys.stderr)
    return EXIT_NO_DAEMON


def _stats(args: argparse.Namespace) -> int:
    from canvasd.cli import output as out

    client = _client(args)
    summary = client.json("GET", "/v1/metrics/summary")
    alerts = client.json("GET", "/v1/metrics/alerts").get("alerts", [])
    if args.json:
        _print_json({"summary": summary, "alerts": alerts})
    else:
        print(out.stats(summary, alerts))
    return EXIT_OK


def _jobs(args: argparse.Namespace) -> int:
    from canvasd.cli import output as out

    jobs = _client(args).json("GET", "/v1/jobs")
    if args.json:
        _print_json(jobs)
    else:
        print(out.jobs(jobs))
    return EXIT_OK


def _agents(args: argparse.Namespace) -> int:
    from canvasd.cli import agents as cli_agents

    answer = _client(args).json("GET", "/v1/agents")
    if args.json:
        _print_json(answer)
    else:
        print(cli_agents.agents_table(answer))
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from canvasd.cli import agents as cli_agents

    if not args.nodes and not args.state:
        raise UsageError("name the nodes to work on, or pick a learning state with --state")
    from canvasd.cli.client import DaemonClient
    from canvasd.paths import client_socket_path

    # A waited-for run may take up to agents.run_timeout_s (an LLM at 20 tokens/s): give it time.
    client = DaemonClient(client_socket_path(args.socket), timeout=600.0) if args.wait else _client(args)
    answer = cli_agents.start(client, args)
    if args.json:
        _print_json(answer)
    else:
        print(cli_agents.run_text(answer["run"]))
    return EXIT_API if answer["run"].get("state") == "failed" else EXIT_OK


def _runs(args: argparse.Namespace) -> int:
    from canvasd.cli import agents as cli_agents

    answer = cli_agents.runs(_client(args), args)
    if args.json:
        _print_json(answer)
    elif "run" in answer:
        print(cli_agents.run_text(answer["run"]))
    else:
        print(cli_agents.runs_table(answer["runs"]))
    return EXIT_OK


def _top(args: argparse.Namespace) -> int:
    from canvasd.cli import top as cli_top

    return cli_top.run(_client(args), args)


def _review(args: argparse.Namespace) -> int:
    from canvasd.cli import review as cli_review

    answer = cli_review.request(_client(args), args)
    if args.json:
        _print_json(answer)
    else:
        print(cli_review.text(args, answer))
    return EXIT_OK


# --- helpers ----------------------------------------------------------------------------------------------------

def _search(args: argparse.Namespace) -> int:
    from canvasd.cli import search as cli_search

    if not 1 <= args.limit <= 200:
        raise UsageError(f"--limit must be between 1 and 200, not {args.limit}")
    answer = cli_search.search(_client(args), args)
    if args.json:
        _print_json(answer)
    else:
        print(cli_search.search_table(answer))
    return EXIT_OK


def _index(args: argparse.Namespace) -> int:
    from canvasd.cli import search as cli_search

    client = _client(args)
    if args.action == "rebuild":
        status = client.json("POST", "/v1/index/rebuild")
    else:
        status = client.json("GET", "/v1/index/status")
    if args.follow and not args.json:
        return cli_search.follow_progress(client, status)
    if args.json:
        _print_json(status)
    else:
        print(cli_search.index_status_text(status))
    return EXIT_OK


def _memory(args: argparse.Namespace) -> int:
    from canvasd.cli import memory as cli_memory

    answer = cli_memory.request(_client(args), args)
    if args.json:
        _print_json(answer)
    else:
        print(cli_memory.render(args.action, answer))
    return EXIT_OK


def _read_input(source: str, what: str) -> bytes:
    """The bytes of a local input file, or of stdin for '-' (refused when stdin is a terminal)."""
    if source == "-":
        if sys.stdin.isatty():
            raise UsageError(f"{what} is read from stdin, which is a terminal; pipe it in or pass a file")
        return sys.stdin.buffer.read()
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {what} from '{source}': {exc.strerror}") from None


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def _fail(exc: BaseException, code: int) -> int:
    print(f"canvasd: {exc}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `canvasd` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_OK
    try:
        return handler(args)
    except UsageError as exc:
        return _fail(exc, EXIT_USAGE)
    except CanvasdError as exc:
        return _fail(exc, _exit_code(exc))
    except BrokenPipeError:
        # The reader went away (`canvasd events | head`); stop quietly, without a traceback at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        return 130


def _exit_code(exc: CanvasdError) -> int:
    """3 when no daemon listens, else 1 (the daemon, the service manager or the daemon's start refused)."""
    from canvasd.cli.client import DaemonUnavailableError

    return EXIT_NO_DAEMON if isinstance(exc, DaemonUnavailableError) else EXIT_API

