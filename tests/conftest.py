"""Shared fixtures: real engines on real files in temporary directories, and leak guards."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from canvasd.canvas import CanvasEngine
from canvasd.config import load_settings
from tests.support.daemon import DaemonProcess, running_daemon, short_temp_dir

# Threads a library starts once per process, by design (LanceDB runs its async core on one background loop).
PROCESS_THREADS = frozenset({"LanceDBBackgroundEventLoop"})


@pytest.fixture(autouse=True)
def _no_thread_leaks() -> Iterator[None]:
    """Every engine a test starts must be closed: no writer or commit thread may outlive the test."""
    before = set(threading.enumerate())
    yield
    leaked = [t for t in threading.enumerate()
              if t not in before and t.is_alive() and t.name not in PROCESS_THREADS]
    for t in leaked:
        t.join(timeout=2)
    leaked = [t.name for t in leaked if t.is_alive()]
    assert not leaked, f"threads leaked by the test: {leaked}"


@pytest.fixture
def make_engine() -> Iterator[Callable[..., CanvasEngine]]:
    """Build engines from settings overrides (fsync off unless asked, for speed); all closed at teardown."""
    engines: list[CanvasEngine] = []

    def factory(**overrides: Any) -> CanvasEngine:
        writer = {"fsync": False, **overrides.pop("batch_writer", {})}
        engine = CanvasEngine(load_settings(batch_writer=writer, **overrides))
        engines.append(engine)
        return engine

    yield factory
    for engine in engines:
        engine.close(timeout=10)


@pytest.fixture
def engine(make_engine: Callable[..., CanvasEngine]) -> CanvasEngine:
    """An engine with default settings and a short window so tests stay quick."""
    return make_engine(batch_writer={"window_ms": 10, "max_delay_ms": 50})


@pytest.fixture
def write_canvas(tmp_path: Path) -> Callable[[str, str | bytes], Path]:
    """Write a canvas file into the test's vault directory and return its path."""
    vault = tmp_path / "vault"
    vault.mkdir(exist_ok=True)

    def write(name: str, content: str | bytes) -> Path:
        path = vault / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode("utf-8") if isinstance(content, str) else content
        path.write_bytes(data)
        return path

    return write


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    """A real daemon subprocess serving vault "v" (`daemon.vault`) on a temporary socket."""
    with running_daemon(tmp_path / "daemon") as process:
        yield process


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A temporary folder with a short path, for Unix sockets: sun_path holds about 104 bytes, and tmp_path
    (under a long TMPDIR or user name) may not leave room for a socket name."""
    folder = short_temp_dir()
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def copy_corpus(tmp_path: Path) -> Callable[[Path], Path]:
    def copy(src: Path) -> Path:
        dst = tmp_path / "vault" / src.name
        dst.parent.mkdir(exist_ok=True)
        shutil.copyfile(src, dst)
        return dst

    return copy
