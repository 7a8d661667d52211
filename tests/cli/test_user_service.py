"""The per-user service (service.py): systemd unit and launchd plist text, and `canvasd service` end to end.

Every subprocess gets a temporary HOME, XDG_CONFIG_HOME and XDG_RUNTIME_DIR and a D-Bus address that leads
nowhere, so `systemctl --user` can never reach (and change) the service manager of whoever runs the tests.
"""

from __future__ import annotations

import json
import os
import plistlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from canvasd.cli.user_service import LAUNCHD_LABEL, launchd_plist, systemd_unit
from canvasd.errors import CanvasdError
from tests.support.corpus import ROOT

NEEDS_ANALYZE = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (no systemd here); the quoting round trip below still runs")
TRICKY_ARGS = ["-m", "canvasd.cli", "serve", "--vault", "笔记=/home/me/My Notes/极限 微积分",
               "--vault", "x=/tmp/100% done $HOME ${USER} \"quoted\" it's back\\slash",
               "--config", "/tmp/a\tb.yaml", "--socket", "/run/user/1000/canvasd/canvasd.sock"]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CANVASD_")}
    return {**env, "HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "XDG_RUNTIME_DIR": str(runtime), "DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path / 'no-bus'}",
            **extra}


def _canvasd(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "canvasd.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env)


def _unquote(word: str) -> str:
    """Undo the C escapes systemd accepts inside a word."""
    out, i = [], 0
    simple = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t", "r": "\r"}
    while i < len(word):
        ch = word[i]
        if ch != "\\":
            out.append(ch)
            i += 1
        elif word[i + 1] == "x":
            out.append(chr(int(word[i + 2:i + 4], 16)))
            i += 4
        else:
            out.append(simple[word[i + 1]])
            i += 2
    return "".join(out)


def _systemd_words(value: str, *, dollars: bool) -> list[str]:
    """Split an Exec*= or Environment= value as systemd.syntax(7) and systemd.service(5) describe."""
    value = value.replace("%%", "\0")
    assert "%" not in value, f"an unescaped specifier in {value!r}"
    value = value.replace("\0", "%")
    words, i = [], 0
    while i < len(value):
        if value[i] == " ":
            i += 1
            continue
        if value[i] in "\"'":
            quote, j = value[i], i + 1
            while value[j] != quote:
                j += 2 if value[j] == "\\" else 1
            words.append(_unquote(value[i + 1:j]))
            i = j + 1
        else:
            j = value.find(" ", i)
            j = len(value) if j < 0 else j
            words.append(_unquote(value[i:j]))
            i = j
    if dollars:  # arguments (not the executable) undergo $VAR expansion; '$$' is a literal '$'
        for k, word in enumerate(words[1:], 1):
            assert "$" not in word.replace("$$", ""), f"an unescaped variable in {word!r}"
            words[k] = word.replace("$$", "$")
    return words


def _setting(unit: str, key: str) -> list[str]:
    return [line.split("=", 1)[1] for line in unit.splitlines() if line.startswith(f"{key}=")]


def _verify(unit_text: str, directory: Path) -> subprocess.CompletedProcess[str]:
    directory.mkdir(parents=True, exist_ok=True)
    unit = directory / "canvasd.service"
    unit.write_text(unit_text, encoding="utf-8")
    runtime = directory / "verify-runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    return subprocess.run(["systemd-analyze", "--user", "verify", str(unit)], capture_output=True, text=True,
                          env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)})


def _files_under(*roots: Path) -> list[Path]:
    return [p for root in roots if root.exists() for p in root.rglob("*") if not p.is_dir()]


def test_exec_start_and_environment_survive_quoting() -> None:
    env = {"PYTHONUNBUFFERED": "1", "CANVASD_X": "a b %n $HOME \"q\""}
    unit = systemd_unit(["/opt/my apps/极限/python3", *TRICKY_ARGS], env)
    [exec_start] = _setting(unit, "ExecStart")
    assert _systemd_words(exec_start, dollars=True) == ["/opt/my apps/极限/python3", *TRICKY_ARGS]
    environment = [_systemd_words(value, dollars=False) for value in _setting(unit, "Environment")]
    assert environment == [[f"{k}={v}"] for k, v in sorted(env.items())]


def test_the_unit_has_the_service_settings() -> None:
    unit = systemd_unit([sys.executable, "-m", "canvasd.cli", "serve"], {"PYTHONUNBUFFERED": "1"})
    for line in ("[Unit]", "[Service]", "Type=simple", "Restart=on-failure", "RestartSec=2", "KillSignal=SIGTERM",
                 "TimeoutStopSec=30", "Environment=PYTHONUNBUFFERED=1", "[Install]", "WantedBy=default.target"):
        assert line in unit.splitlines(), line


def test_the_unit_refuses_an_executable_systemd_cannot_run() -> None:
    with pytest.raises(CanvasdError, match="absolute path"):
        systemd_unit(["python3", "-m", "canvasd.cli"], {})
    with pytest.raises(CanvasdError, match="contains '\\$'"):
        systemd_unit(["/opt/$weird/python3"], {})


@NEEDS_ANALYZE
def test_generated_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    env = _env(tmp_path)
    done = _canvasd(env, "service", "install", "--manager", "systemd", "--dry-run",
                    "--vault", f"笔记={tmp_path / 'My Notes'}")
    assert done.returncode == 0, done.stderr
    verified = _verify(done.stdout, tmp_path / "unit")
    assert verified.returncode == 0, verified.stderr
    assert "canvasd.service" not in verified.stderr  # no warnings either (unknown keys only warn)


@NEEDS_ANALYZE
def test_verify_finds_an_executable_path_with_spaces_and_chinese(tmp_path: Path) -> None:
    # verify checks that the executable exists, so it proves systemd reads the quoted path back exactly.
    folder = tmp_path / "my bin"
    folder.mkdir()
    (folder / "蟒 python").symlink_to(sys.executable)
    unit = systemd_unit([str(folder / "蟒 python"), *TRICKY_ARGS], {"PYTHONUNBUFFERED": "1"})
    verified = _verify(unit, tmp_path / "unit")
    assert verified.returncode == 0, verified.stderr
    unquoted = unit.replace(f'"{folder / "蟒 python"}"', str(folder / "蟒 python"))
    assert unquoted != unit
    assert _verify(unquoted, tmp_path / "naive").returncode != 0  # the control: without quotes it fails


def test_launchd_plist_parses_with_the_program_arguments(tmp_path: Path) -> None:
    args = ["/Users/me/.venv/bin/python", *TRICKY_ARGS]
    agent = plistlib.loads(launchd_plist(args, {"PYTHONUNBUFFERED": "1"}, tmp_path / "canvasd.log").encode())
    assert agent["Label"] == LAUNCHD_LABEL
    assert agent["ProgramArguments"] == args
    assert agent["RunAtLoad"] is True and agent["KeepAlive"] == {"SuccessfulExit": False}
    assert agent["EnvironmentVariables"] == {"PYTHONUNBUFFERED": "1"}
    assert agent["StandardErrorPath"] == str(tmp_path / "canvasd.log")


def test_dry_run_prints_the_unit_and_writes_nothing(tmp_path: Path) -> None:
    env = _env(tmp_path, CANVASD_JOBS__ADAPTIVE="false")
    vault = tmp_path / "My Notes"
    done = _canvasd(env, "service", "install", "--manager", "systemd", "--dry-run", "--vault", f"notes={vault}",
                    "--config", "relative.yaml")
    assert done.returncode == 0, done.stderr
    target = tmp_path / "config" / "systemd" / "user" / "canvasd.service"
    assert f"would write {target}" in done.stderr and "would run: systemctl --user daemon-reload" in done.stderr
    [exec_start] = _setting(done.stdout, "ExecStart")
    assert _systemd_words(exec_start, dollars=True) == [
        sys.executable, "-m", "canvasd.cli", "serve", "--vault", f"notes={vault}",
        "--config", str(ROOT / "relative.yaml")]  # relative paths become absolute: services run elsewhere
    assert "Environment=CANVASD_JOBS__ADAPTIVE=false" in done.stdout.splitlines()
    assert _files_under(tmp_path / "home", tmp_path / "config") == []


def test_install_status_and_uninstall_with_no_reachable_systemd(tmp_path: Path) -> None:
    env = _env(tmp_path)
    unit = tmp_path / "config" / "systemd" / "user" / "canvasd.service"
    vault_args = ["--vault", f"笔记={tmp_path / 'My Notes'}"]
    preview = _canvasd(env, "service", "install", "--manager", "systemd", "--dry-run", *vault_args)
    installed = _canvasd(env, "service", "install", "--manager", "systemd", *vault_args)
    assert installed.returncode == 0, installed.stderr
    assert f"wrote {unit}" in installed.stderr
    assert "warning: systemd could not be used" in installed.stderr
    assert "    systemctl --user enable canvasd.service" in installed.stderr  # what to run by hand
    assert unit.read_text(encoding="utf-8") == preview.stdout

    status = _canvasd(env, "service", "status", "--manager", "systemd", "--json")
    assert status.returncode == 0
    reported = json.loads(status.stdout)
    assert reported["installed"] is True and reported["path"] == str(unit)
    assert reported["state"] is None and reported["detail"]  # the manager could not be asked, and why
    human = _canvasd(env, "service", "status", "--manager", "systemd")
    assert f"service: installed at {unit}; systemd cannot be asked" in human.stdout

    # What `systemctl --user enable` would have made; uninstall removes it when systemd cannot.
    wants = unit.parent / "default.target.wants" / "canvasd.service"
    wants.parent.mkdir()
    wants.symlink_to(unit)
    removed = _canvasd(env, "service", "uninstall", "--manager", "systemd")
    assert removed.returncode == 0, removed.stderr
    assert f"removed {unit}" in removed.stderr and "    systemctl --user stop canvasd.service" in removed.stderr
    assert not unit.exists() and not wants.is_symlink()
    again = _canvasd(env, "service", "uninstall", "--manager", "systemd")
    assert again.returncode == 0 and "nothing to remove" in again.stderr
    status = _canvasd(env, "service", "status", "--manager", "systemd", "--json")
    assert json.loads(status.stdout)["installed"] is False


def test_uninstall_dry_run_keeps_the_file(tmp_path: Path) -> None:
    env = _env(tmp_path)
    assert _canvasd(env, "service", "install", "--manager", "systemd").returncode == 0
    unit = tmp_path / "config" / "systemd" / "user" / "canvasd.service"
    dry = _canvasd(env, "service", "uninstall", "--manager", "systemd", "--dry-run")
    assert dry.returncode == 0 and f"would remove {unit}" in dry.stderr
    assert unit.exists()


@pytest.mark.skipif(shutil.which("launchctl") is not None,
                    reason="launchctl is present: installing would load a real LaunchAgent")
def test_launchd_install_writes_the_plist_and_uninstall_removes_it(tmp_path: Path) -> None:
    env = _env(tmp_path)
    done = _canvasd(env, "service", "install", "--manager", "launchd", "--vault", f"v={tmp_path / 'vault'}")
    assert done.returncode == 0, done.stderr
    assert "warning: launchd could not be used: 'launchctl' is not installed" in done.stderr
    plist = tmp_path / "home" / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist"
    agent = plistlib.loads(plist.read_bytes())
    # launchd agents do not share Terminal's temp dir, so the socket is pinned to the one clients use.
    assert agent["ProgramArguments"] == [sys.executable, "-m", "canvasd.cli", "serve", "--vault",
                                         f"v={tmp_path / 'vault'}", "--socket",
                                         str(tmp_path / "runtime" / "canvasd" / "canvasd.sock")]
    assert (tmp_path / "home" / "Library" / "Logs").is_dir()
    assert _canvasd(env, "service", "uninstall", "--manager", "launchd").returncode == 0
    assert not plist.exists()
