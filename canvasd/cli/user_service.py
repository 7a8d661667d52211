"""Run canvasd as a per-user service: a systemd user unit on Linux, a launchd LaunchAgent on macOS.

`install` writes the service file and asks the service manager to start it; when the manager cannot be
reached (no user bus in a container, no launchctl), the file stays written and the commands that would
have started it are reported, so the user can run them where the manager is available.
"""

from __future__ import annotations

import os
import plistlib
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from canvasd.errors import HIDDEN, CanvasdError

SYSTEMD_UNIT_NAME = "canvasd.service"
LAUNCHD_LABEL = "dev.canvasd"
_COMMAND_TIMEOUT_S = 30.0
# Words that need no quoting in a unit file; everything else goes in double quotes.
_SYSTEMD_PLAIN = re.compile(r"[A-Za-z0-9_@+=:,./-]+")
_C_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}


class ServiceError(CanvasdError):
    """The service cannot be installed, removed or inspected as asked."""

    code = "service_error"
    template = "{reason}"
    reason: str = field(metadata=HIDDEN)


Command = list[str]


@dataclass(frozen=True, slots=True)
class Step:
    """A service-manager command; `required` steps stop the sequence when they fail."""

    argv: Command
    required: bool = True

    def __str__(self) -> str:
        import shlex

        return shlex.join(self.argv)


@dataclass(slots=True)
class ActionResult:
    """What install or uninstall did: the file touched, the commands run, and those left to the user."""

    manager: str
    path: Path
    changed: bool
    text: str = ""  # the service file written (or, for a dry run, that would be)
    ran: list[Step] = field(default_factory=list)
    failed: str | None = None  # why the service manager could not be used
    pending: list[Step] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    """Whether the service file is installed and, if the manager answers, the service's state."""

    manager: str
    path: Path
    installed: bool
    state: str | None  # "active", "inactive", "running", "not loaded", ... or None when unknown
    detail: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {"manager": self.manager, "path": str(self.path), "installed": self.installed,
                "state": self.state, "detail": self.detail}


def systemd_quote(word: str, *, expand_dollars: bool = True) -> str:
    """Quote one word for a unit file so systemd reads back exactly `word` (specifiers and `$` escaped)."""
    # '%' starts a specifier everywhere; '$' starts a variable only in Exec* arguments.
    escaped = word.replace("%", "%%")
    if expand_dollars:
        escaped = escaped.replace("$", "$$")
    if _SYSTEMD_PLAIN.fullmatch(word):
        return escaped
    escaped = "".join(_C_ESCAPES.get(ch, f"\\x{ord(ch):02x}" if ord(ch) < 0x20 or ord(ch) == 0x7F else ch)
                      for ch in escaped)
    return f'"{escaped}"'


def systemd_unit(exec_args: list[str], env: dict[str, str]) -> str:
    """The text of the systemd user unit that runs `exec_args` with `env`."""
    if not exec_args or not os.path.isabs(exec_args[0]):
        raise ServiceError(f"the service command must start with an absolute path, not {exec_args[:1]!r}")
    if "$" in exec_args[0]:
        # systemd never expands variables in the executable path and refuses '$' there.
        raise ServiceError(f"systemd cannot run an executable whose path contains '$': {exec_args[0]}")
    exec_start = " ".join(systemd_quote(arg) for arg in exec_args)
    environment = "".join(f"Environment={systemd_quote(f'{k}={v}', expand_dollars=False)}\n"
                          for k, v in sorted(env.items()))
    return (
        "# Written by 'canvasd service install'; remove it with 'canvasd service uninstall'.\n"
        "[Unit]\n"
        "Description=canvasd: fast, safe Obsidian canvases over a local HTTP API\n"
        "\n"
        "[Service]\n"
        "Type=simple\n"
        f"ExecStart={exec_start}\n"
        f"{environment}"
        "Restart=on-failure\n"
        "RestartSec=2\n"
        "KillSignal=SIGTERM\n"
        # Shutdown drains requests and flushes pending writes; give it time before SIGKILL.
        "TimeoutStopSec=30\n"
        "\n"
        "[Install]\n"
        "WantedBy=default.target\n"
    )


def launchd_plist(exec_args: list[str], env: dict[str, str], log_path: Path) -> str:
    """The text of the launchd LaunchAgent that runs `exec_args` with `env`, logging to `log_path`."""
    if not exec_args or not os.path.isabs(exec_args[0]):
        raise ServiceError(f"the service command must start with an absolute path, not {exec_args[:1]!r}")
    agent = {
        "Label": LAUNCHD_LABEL,
        "ProgramArguments": list(exec_args),
        "EnvironmentVariables": dict(sorted(env.items())),
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},  # restart after a crash, not after a clean stop
        "ThrottleInterval": 2,
        "ExitTimeOut": 30,
        "ProcessType": "Background",
        "StandardOutPath": str(log_path),
        "StandardErrorPath": str(log_path),
    }
    return plistlib.dumps(agent, sort_keys=False).decode("utf-8")


class _Manager:
    """One service manager: where its file goes, what it contains, and the commands that drive it."""

    name = ""

    def path(self) -> Path:
        raise NotImplementedError

    def render(self, exec_args: list[str], env: dict[str, str]) -> str:
        raise NotImplementedError

    def start_steps(self) -> list[Step]:
        raise NotImplementedError

    def stop_steps(self) -> list[Step]:
        raise NotImplementedError

    def after_remove_steps(self) -> list[Step]:
        return []

    def offline_stop_steps(self) -> list[Step]:
        """What stops the service once its file is gone, when the stop steps could not run before."""
        return self.stop_steps()

    def forget(self) -> None:
        """Remove what the manager would have removed when disabling (when it could not be reached)."""

    def state(self) -> tuple[str | None, str | None]:
        """(state, detail): the service's state as the manager reports it, None when it cannot tell."""
        raise NotImplementedError


class _Systemd(_Manager):
    name = "systemd"

    def path(self) -> Path:
        config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        return Path(config_home) / "systemd" / "user" / SYSTEMD_UNIT_NAME

    def render(self, exec_args: list[str], env: dict[str, str]) -> str:
        return systemd_unit(exec_args, env)

    def start_steps(self) -> list[Step]:
        # restart (not start) so that re-installing with new arguments takes effect at once.
        return [Step(["systemctl", "--user", "daemon-reload"]),
                Step(["systemctl", "--user", "enable", SYSTEMD_UNIT_NAME]),
                Step(["systemctl", "--user", "restart", SYSTEMD_UNIT_NAME])]

    def stop_steps(self) -> list[Step]:
        return [Step(["systemctl", "--user", "disable", "--now", SYSTEMD_UNIT_NAME])]

    def after_remove_steps(self) -> list[Step]:
        return [Step(["systemctl", "--user", "daemon-reload"])]

    def offline_stop_steps(self) -> list[Step]:
        # `disable` needs the unit file, which is gone by then; `stop` works on the loaded unit.
        return [Step(["systemctl", "--user", "stop", SYSTEMD_UNIT_NAME])]

    def forget(self) -> None:
        # The link `systemctl enable` made; left behind it would point at a file that no longer exists.
        wants = self.path().parent / "default.target.wants" / SYSTEMD_UNIT_NAME
        if wants.is_symlink():
            wants.unlink()

    def state(self) -> tuple[str | None, str | None]:
        done = _run(["systemctl", "--user", "is-active", SYSTEMD_UNIT_NAME])
        if isinstance(done, str):
            return None, done
        answer = done.stdout.strip()
        if answer:  # is-active prints the state and exits non-zero for anything but "active"
            return answer, None
        return None, _first_line(done.stderr) or f"systemctl exited with status {done.returncode}"


class _Launchd(_Manager):
    name = "launchd"

    def path(self) -> Path:
        return Path.home() / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist"

    def log_path(self) -> Path:
        return Path.home() / "Library" / "Logs" / "canvasd.log"

    def render(self, exec_args: list[str], env: dict[str, str]) -> str:
        return launchd_plist(exec_args, env, self.log_path())

    def _domain(self) -> str:
        return f"gui/{os.getuid()}"

    def start_steps(self) -> list[Step]:
        # bootstrap refuses a label that is already loaded, so an older copy is booted out first.
        return [Step(["launchctl", "bootout", f"{self._domain()}/{LAUNCHD_LABEL}"], required=False),
                Step(["launchctl", "bootstrap", self._domain(), str(self.path())])]

    def stop_steps(self) -> list[Step]:
        return [Step(["launchctl", "bootout", f"{self._domain()}/{LAUNCHD_LABEL}"])]

    def state(self) -> tuple[str | None, str | None]:
        done = _run(["launchctl", "print", f"{self._domain()}/{LAUNCHD_LABEL}"])
        if isinstance(done, str):
            return None, done
        if done.returncode != 0:
            return "not loaded", _first_line(done.stderr) or None
        match = re.search(r"^\s*state = (\S+)", done.stdout, re.MULTILINE)
        return (match.group(1) if match else "loaded"), None


MANAGERS: dict[str, type[_Manager]] = {"systemd": _Systemd, "launchd": _Launchd}


def platform_manager() -> str:
    """The service manager of this platform: systemd on Linux, launchd on macOS."""
    if sys.platform == "darwin":
        return "launchd"
    if sys.platform.startswith("linux"):
        return "systemd"
    raise ServiceError(f"canvasd has no service support for platform '{sys.platform}'; run 'canvasd serve' "
                       "from your own startup mechanism")


def manager(name: str | None = None) -> _Manager:
    """The manager called `name`, or the platform's own."""
    return MANAGERS[name or platform_manager()]()


def install(exec_args: list[str], env: dict[str, str], name: str | None = None,
            dry_run: bool = False) -> ActionResult:
    """Write the service file and start the service; with `dry_run`, only report what would happen."""
    chosen = manager(name)
    path, text = chosen.path(), chosen.render(exec_args, env)
    result = ActionResult(chosen.name, path, changed=False, text=text)
    if dry_run:
        result.pending = chosen.start_steps()
        return result
    _write(path, text)
    if isinstance(chosen, _Launchd):
        chosen.log_path().parent.mkdir(parents=True, exist_ok=True)
    result.changed = True
    _run_steps(chosen.start_steps(), result)
    return result


def uninstall(name: str | None = None, dry_run: bool = False) -> ActionResult:
    """Stop and disable the service and remove its file; with `dry_run`, only report what would happen."""
    chosen = manager(name)
    path = chosen.path()
    result = ActionResult(chosen.name, path, changed=False)
    if not path.exists():
        return result
    if dry_run:
        result.pending = chosen.stop_steps() + chosen.after_remove_steps()
        return result
    _run_steps(chosen.stop_steps(), result)
    path.unlink()
    result.changed = True
    if result.failed is None:
        _run_steps(chosen.after_remove_steps(), result)
    else:
        chosen.forget()
        result.pending = chosen.offline_stop_steps() + chosen.after_remove_steps()
    return result


def status(name: str | None = None) -> ServiceStatus:
    """Whether the service file is installed, and the service's state if the manager can tell."""
    chosen = manager(name)
    path = chosen.path()
    state, detail = chosen.state()
    return ServiceStatus(chosen.name, path, path.is_file(), state, detail)


def _write(path: Path, text: str) -> None:
    """Write the service file whole (temp file + rename) so a manager never reads half of it."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        tmp.chmod(0o644)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ServiceError(f"cannot write the service file '{path}': {exc.strerror}; nothing was installed") \
            from exc


def _run_steps(steps: list[Step], result: ActionResult) -> None:
    """Run steps in order; at the first failing required step, record why and keep the rest as pending."""
    for index, step in enumerate(steps):
        done = _run(step.argv)
        if isinstance(done, subprocess.CompletedProcess) and done.returncode == 0:
            result.ran.append(step)
            continue
        if not step.required:
            continue
        if isinstance(done, str):
            result.failed = done
        else:
            result.failed = f"'{step}' failed: {_first_line(done.stderr) or f'exit status {done.returncode}'}"
        result.pending = steps[index:]
        return


def _run(argv: Command) -> subprocess.CompletedProcess[str] | str:
    """Run a service-manager command; a string says why it could not run at all."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=_COMMAND_TIMEOUT_S, check=False)
    except FileNotFoundError:
        return f"'{argv[0]}' is not installed"
    except subprocess.TimeoutExpired:
        return f"'{argv[0]}' did not finish within {_COMMAND_TIMEOUT_S:g} s"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""
