"""The `canvasd` command line (cli.py), run as a real subprocess: help, usage errors, and no daemon."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.corpus import ROOT

HEAVY = ("orjson", "pydantic", "yaml", "prometheus_client", "cachetools", "starlette", "uvicorn", "watchdog",
         "psutil", "apscheduler", "httpx", "structlog")
HINT = "start one with 'canvasd serve' (or 'canvasd service install')"
SUBCOMMANDS = (["serve"], ["status"], ["ls"], ["cat"], ["put"], ["patch"], ["rm"], ["flush"], ["events"],
               ["stats"], ["jobs"], ["service"], ["service", "install"], ["service", "uninstall"],
               ["service", "status"], ["config"], ["config", "show"], ["config", "check"])


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CANVASD_")}
    return {**env, **extra}


def _canvasd(*args: str, env: dict[str, str] | None = None,
             stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "canvasd.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env if env is not None else _env(), input=stdin if stdin is not None else "")


def _imported_by(calls: list[list[str]]) -> tuple[list[str], list[object]]:
    """Run `main(argv)` for each argv in one fresh interpreter: (heavy modules imported, exit codes)."""
    code = ("import contextlib, io, json, sys; from canvasd.cli import main\n"
            f"calls = {calls!r}; codes = []\n"
            "for argv in calls:\n"
            "    out, err = io.StringIO(), io.StringIO()\n"
            "    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):\n"
            "        try: codes.append(main(argv))\n"
            "        except SystemExit as exc: codes.append(exc.code)\n"
            "    if 'usage: canvasd' not in out.getvalue() + err.getvalue() and argv[-1] == '--help':\n"
            "        codes[-1] = 'no usage for ' + ' '.join(argv)\n"
            f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
            "print(json.dumps({'heavy': heavy, 'codes': codes}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
                          env=_env())
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["heavy"], result["codes"]


def test_help_and_version() -> None:
    done = _canvasd("--help")
    assert done.returncode == 0
    for name in ("serve", "status", "ls", "cat", "put", "patch", "rm", "flush", "events", "stats", "jobs",
                 "service", "config"):
        assert f"    {name} " in done.stdout, name
    assert _canvasd("--version").stdout.startswith("canvasd ")


def test_help_of_every_command_works_and_imports_nothing_heavy() -> None:
    heavy, codes = _imported_by([["--help"], *([*sub, "--help"] for sub in SUBCOMMANDS)])
    assert codes == [0] * (len(SUBCOMMANDS) + 1)
    assert heavy == []


def test_client_commands_import_nothing_heavy(tmp_path: Path) -> None:
    missing = str(tmp_path / "none.sock")
    heavy, codes = _imported_by([["--socket", missing, "status"], ["--socket", missing, "ls", "v"],
                                 ["--socket", missing, "cat", "v", "a.canvas"], ["--socket", missing, "jobs"]])
    assert codes == [3, 3, 3, 3]
    assert heavy == []


def test_config_show_and_check(tmp_path: Path) -> None:
    shown = _canvasd("config", "show", "--json", "--config", str(ROOT / "config" / "optimization.yaml"))
    assert shown.returncode == 0
    assert json.loads(shown.stdout)["batch_writer"]["window_ms"] == 100
    bad = tmp_path / "bad.yaml"
    bad.write_text("batch_writer:\n  windw_ms: 5\n")
    checked = _canvasd("config", "check", str(bad))
    assert checked.returncode == 2
    assert "unknown key 'batch_writer.windw_ms'" in checked.stderr
    assert _canvasd("config", "check", str(ROOT / "config" / "optimization.yaml")).returncode == 0


def _client_commands(tmp_path: Path) -> list[list[str]]:
    doc = tmp_path / "doc.canvas"
    doc.write_text('{"nodes": [], "edges": []}')
    return [["status"], ["status", "--json"], ["ls", "v"], ["cat", "v", "a.canvas"],
            ["put", "v", "a.canvas", str(doc)], ["patch", "v", "a.canvas", "[]"], ["rm", "v", "a.canvas"], ["flush"],
            ["events"], ["events", "--since", "3"], ["stats"], ["jobs", "--json"]]


def _assert_no_daemon_hint(done: subprocess.CompletedProcess[str], sock: Path) -> None:
    assert done.returncode == 3, done.stderr
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr == f"canvasd: no daemon is listening on {sock}; {HINT}\n"


def test_every_client_command_without_a_daemon_exits_3_with_a_hint(tmp_path: Path, short_tmp: Path) -> None:
    sock = short_tmp / "missing" / "canvasd.sock"  # short: a too long path gets another message
    for command in _client_commands(tmp_path):
        _assert_no_daemon_hint(_canvasd("--socket", str(sock), *command), sock)
    for command in (["status"], ["cat", "v", "a.canvas"], ["events"]):  # --socket after the command works too
        _assert_no_daemon_hint(_canvasd(*command, "--socket", str(sock)), sock)


def test_a_stale_socket_file_counts_as_no_daemon(short_tmp: Path) -> None:
    # A socket file left by a killed daemon: bound once, nobody listening, so connect() is refused.
    sock = short_tmp / "stale.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stale:
        stale.bind(str(sock))
    assert sock.exists()
    for command in (["status"], ["events"], ["flush"]):
        _assert_no_daemon_hint(_canvasd("--socket", str(sock), *command), sock)


def test_the_socket_comes_from_the_environment_without_socket_option(short_tmp: Path) -> None:
    sock = short_tmp / "from-env.sock"
    _assert_no_daemon_hint(_canvasd("status", env=_env(CANVASD_DAEMON__SOCKET=str(sock))), sock)
    runtime = short_tmp / "runtime"
    default = runtime / "canvasd" / "canvasd.sock"
    _assert_no_daemon_hint(_canvasd("status", env=_env(XDG_RUNTIME_DIR=str(runtime))), default)


def test_serve_refuses_a_vault_without_name_and_folder() -> None:
    for bad in ("badformat", "=/tmp/x", "name="):
        done = _canvasd("serve", "--vault", bad)
        assert done.returncode == 2
        assert f"argument --vault: expected NAME=DIR (e.g. --vault notes=~/Obsidian/Notes), got '{bad}'" in done.stderr


def test_serve_reports_invalid_settings_with_exit_2(tmp_path: Path) -> None:
    done = _canvasd("serve", "--vault", f".hidden={tmp_path}", "--socket", str(tmp_path / "s.sock"))
    assert done.returncode == 2
    assert "vault name '.hidden' must be letters, digits" in done.stderr
    twice = _canvasd("serve", "--vault", f"a={tmp_path}", "--vault", "a=/elsewhere")
    assert twice.returncode == 2 and "vault 'a' is given twice" in twice.stderr
    bad_config = tmp_path / "bad.yaml"
    bad_config.write_text("daemon:\n  sockett: /x\n")
    done = _canvasd("serve", "--config", str(bad_config))
    assert done.returncode == 2 and "unknown key 'daemon.sockett'" in done.stderr
    assert not (tmp_path / "s.sock").exists()


@pytest.mark.parametrize(("ops", "message"), [
    ("not json", "OPS is not valid JSON"),
    ('{"op": "remove_node"}', 'OPS must be a JSON list of ops or an object {"ops": [...]}'),
    ("@/nonexistent/ops.json", "cannot read OPS from '/nonexistent/ops.json'"),
])
def test_patch_refuses_bad_ops_before_contacting_the_daemon(tmp_path: Path, ops: str, message: str) -> None:
    done = _canvasd("--socket", str(tmp_path / "none.sock"), "patch", "v", "a.canvas", ops)
    assert done.returncode == 2
    assert message in done.stderr and "no daemon" not in done.stderr


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    sock = str(tmp_path / "none.sock")
    unreadable = _canvasd("--socket", sock, "put", "v", "a.canvas", str(tmp_path / "missing.canvas"))
    assert unreadable.returncode == 2 and "cannot read the canvas from" in unreadable.stderr
    assert _canvasd("--socket", sock, "events", "--since", "-1").returncode == 2
    assert _canvasd("--socket", sock, "cat", "v").returncode == 2  # argparse: PATH missing
    assert _canvasd("no-such-command").returncode == 2
