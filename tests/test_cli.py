"""The `canvasd` command line (cli.py), run as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def _canvasd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "canvasd.cli", *args], capture_output=True, text=True, cwd=ROOT)


def test_help_and_version() -> None:
    done = _canvasd("--help")
    assert done.returncode == 0 and "config" in done.stdout
    assert _canvasd("--version").stdout.startswith("canvasd ")


def test_help_does_not_import_heavy_modules() -> None:
    code = ("import sys; from canvasd.cli import main\n"
            "try: main(['--help'])\nexcept SystemExit: pass\n"
            "heavy = ('orjson', 'pydantic', 'yaml', 'prometheus_client', 'cachetools')\n"
            "heavy = [m for m in heavy if m in sys.modules]\n"
            "print('HEAVY=' + ','.join(heavy))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "HEAVY="


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
