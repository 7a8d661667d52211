"""Crash safety: a subprocess that writes in a loop is SIGKILLed 50 times at random moments; the canvas is
always valid JSON equal to a committed version, and every acknowledged write is present.

Real processes, real files, fsync on. The child (`crash_writer.py`) adds nodes n0, n1, ... with one
write request per node (some of them also recolour an older node), so the committed state holding
n0..n<k-1> is known exactly; it prints `ack <node id> <version>` once a write is durable. Set
CRASH_TEST_SEED to replay a run's kill schedule (timings still vary with the machine).

How many writes a child acknowledges before its kill depends on the disk's fsync time, so the test does not
count on a rate: every other round kills a random moment after the child's first ack (the others a random
moment after it is ready, so before, during or after its first write), and rounds go on past ROUNDS, up to
MAX_ROUNDS, until MIN_TOTAL_ACKS writes were acknowledged and one batched commit was seen.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from canvasd.canvas import CanvasEngine, Patch, Replace
from canvasd.canvas.atomic import TEMP_SUFFIX, sweep_temp_files
from canvasd.canvas.store import content_version
from canvasd.config import load_settings

ROUNDS = 50
MAX_ROUNDS = 4 * ROUNDS
MIN_RUN_S, MAX_RUN_S = 0.05, 0.4
READY_TIMEOUT_S = 30.0
MIN_TOTAL_ACKS = 100
WRITER = Path(__file__).resolve().parents[1] / "support" / "crash_writer.py"
_ACK_RE = re.compile(r"^ack n(\d+) (\S+)$")


def _load_writer():
    spec = importlib.util.spec_from_file_location("_canvasd_crash_writer", WRITER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


writer = _load_writer()


def _child_env() -> dict[str, str]:
    """The environment without CANVASD_* settings, so only the child's explicit settings apply."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CANVASD_")}


def _temp_pid(name: str, canvas_name: str) -> int | None:
    match = re.fullmatch(rf"\.{re.escape(canvas_name)}\.(\d+)\.[0-9a-f]{{8}}{re.escape(TEMP_SUFFIX)}", name)
    return int(match.group(1)) if match else None


def _wait_ready(proc: subprocess.Popen[bytes], out_path: Path, err_path: Path, where: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        if out_path.read_bytes().startswith(b"ready\n"):
            return
        if proc.poll() is not None:
            pytest.fail(f"{where}: child exited with {proc.returncode} before ready:\n{err_path.read_text()}")
        if time.monotonic() > deadline:
            pytest.fail(f"{where}: child not ready after {READY_TIMEOUT_S} s:\n{err_path.read_text()}")
        time.sleep(0.005)


def _wait_first_ack(proc: subprocess.Popen[bytes], out_path: Path, err_path: Path, where: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while out_path.read_bytes().count(b"\n") < 2:  # "ready" and one complete ack line
        if proc.poll() is not None:
            pytest.fail(f"{where}: child exited with {proc.returncode} before its first ack:\n{err_path.read_text()}")
        if time.monotonic() > deadline:
            pytest.fail(f"{where}: no ack after {READY_TIMEOUT_S} s:\n{err_path.read_text()}")
        time.sleep(0.002)


def _run_and_kill(canvas: Path, start: int, run_s: float, logs: Path, round_no: int, where: str, *,
                  after_first_ack: bool) -> tuple[int, str]:
    """Start a child at node `start`, SIGKILL it `run_s` after it is ready (or after its first ack); returns
    (its pid, its stdout)."""
    out_path = logs / f"round{round_no:03d}.out"
    err_path = logs / f"round{round_no:03d}.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, str(WRITER), str(canvas), str(start)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=logs, env=_child_env(),
        )
    try:
        _wait_ready(proc, out_path, err_path, where)
        if after_first_ack:
            _wait_first_ack(proc, out_path, err_path, where)
        time.sleep(run_s)
        if proc.poll() is not None:
            pytest.fail(f"{where}: child exited with {proc.returncode} before the kill:\n{err_path.read_text()}")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"{where}: child ended with {proc.returncode}:\n{err_path.read_text()}"
    return proc.pid, out_path.read_text(encoding="utf-8")


def _parse_acks(stdout: str, start: int, where: str) -> list[tuple[int, str]]:
    """The (node index, version) acknowledgements of one child, in order; a line cut by the kill is no ack."""
    lines = stdout.split("\n")
    assert lines[0] == "ready", f"{where}: unexpected child output {stdout[:200]!r}"
    acks: list[tuple[int, str]] = []
    for line in lines[1:-1]:  # the last element is "" or a line the kill cut short
        match = _ACK_RE.match(line)
        assert match, f"{where}: unexpected child output line {line!r}"
        acks.append((int(match.group(1)), match.group(2)))
    indices = [index for index, _ in acks]
    assert indices == list(range(start, start + len(acks))), f"{where}: child acknowledged out of order: {indices}"
    return acks


@pytest.mark.slow
def test_sigkilled_writer_never_corrupts_or_loses_acknowledged_writes(tmp_path: Path) -> None:
    seed = int(os.environ.get("CRASH_TEST_SEED", random.SystemRandom().randrange(2**32)))
    rng = random.Random(seed)
    vault = tmp_path / "vault"
    logs = tmp_path / "logs"
    vault.mkdir()
    logs.mkdir()
    canvas = vault / "crash.canvas"
    settings = load_settings(batch_writer=writer.BATCH_WRITER)
    with CanvasEngine(settings) as engine:
        engine.apply(canvas, Replace({"nodes": [], "edges": []}))

    total_acks = 0
    rounds_with_acks = 0
    coalesced_versions: set[str] = set()  # versions acknowledged for more than one node: batched commits
    version_last_index: dict[str, int] = {}
    ack_owner: dict[str, int] = {}
    leftover: set[str] = set()  # temp files in the vault not swept yet
    rounds_with_temp = 0
    count = 0  # nodes on disk
    rounds = 0
    while rounds < ROUNDS or (rounds < MAX_ROUNDS and (total_acks < MIN_TOTAL_ACKS or not coalesced_versions)):
        round_no = rounds
        rounds += 1
        run_s = rng.uniform(MIN_RUN_S, MAX_RUN_S)
        after_first_ack = round_no % 2 == 0
        where = (f"seed {seed}, round {round_no}, start n{count}, run {run_s * 1000:.0f} ms after "
                 f"{'the first ack' if after_first_ack else 'ready'}")
        start = count
        pid, stdout = _run_and_kill(canvas, start, run_s, logs, round_no, where, after_first_ack=after_first_ack)
        acks = _parse_acks(stdout, start, where)
        where += f", child pid {pid}, {len(acks)} acks"

        # (1) the canvas is valid JSON: an object
        raw = canvas.read_bytes()
        try:
            document = json.loads(raw)
        except ValueError as exc:
            pytest.fail(f"{where}: canvas is not valid JSON ({exc}): {raw[:200]!r}...{raw[-200:]!r}")
        assert isinstance(document, dict), f"{where}: canvas is not a JSON object"
        assert set(document) == {"nodes", "edges"} and document["edges"] == [], f"{where}: {sorted(document)}"
        nodes = document["nodes"]
        assert isinstance(nodes, list), f"{where}: nodes is {type(nodes).__name__}"

        # (2) it is a committed state: nodes n0..n<count-1> exactly as committed (no gap, no duplicate)
        ids = [node.get("id") if isinstance(node, dict) else node for node in nodes]
        count = len(nodes)
        wrong = next((i for i, node_id in enumerate(ids) if node_id != f"n{i}"), None)
        assert wrong is None, f"{where}: node ids are not n0..n{count - 1}: position {wrong} holds {ids[wrong]!r}"
        assert count >= start, f"{where}: nodes lost, {count} on disk, {start} before the child started"
        assert nodes == writer.expected_nodes(count), f"{where}: canvas is not the state committed with n{count - 1}"
        version = content_version(raw)

        # (3) every acknowledged write is present; the last acknowledged version is on disk unless a later
        # commit (whose ack was not printed yet) added more nodes
        for index, acked_version in acks:
            assert index < count, f"{where}: acknowledged n{index} is missing ({count} nodes on disk)"
            if ack_owner.setdefault(acked_version, pid) != pid:
                pytest.fail(f"{where}: version {acked_version} acknowledged by two children")
            if version_last_index.get(acked_version, index) != index:
                coalesced_versions.add(acked_version)
            version_last_index[acked_version] = max(index, version_last_index.get(acked_version, index))
        if acks:
            last_index, last_version = acks[-1]
            assert version == last_version or count > last_index + 1, (
                f"{where}: last ack n{last_index} at version {last_version}, but the file has version {version} "
                f"with {count} nodes"
            )
        total_acks += len(acks)
        rounds_with_acks += bool(acks)

        # (4) temp files: only the killed child's may remain (each child sweeps the dead ones when it
        # first writes), never the canvas itself
        entries = set(os.listdir(vault))
        assert canvas.name in entries
        temps = entries - {canvas.name}
        pids = {name: _temp_pid(name, canvas.name) for name in temps}
        assert None not in pids.values(), f"{where}: unexpected files in the vault: {sorted(temps)}"
        allowed = {pid} if acks else {pid} | {pids[name] for name in leftover if name in temps}
        assert set(pids.values()) <= allowed, (
            f"{where}: temp files of earlier writers were not swept: {sorted(temps)} (before: {sorted(leftover)})"
        )
        rounds_with_temp += pid in pids.values()
        leftover = temps

    where = f"seed {seed}, {rounds} rounds, {total_acks} acks, {count} nodes"
    assert total_acks >= MIN_TOTAL_ACKS, f"{where}: too few acknowledged writes for a meaningful test"
    assert coalesced_versions, f"{where}: no batch of several requests was ever committed as one write"

    # the explicit sweep removes what the last child left; a new writer process then finds nothing to sweep
    removed = sweep_temp_files(vault)
    assert {p.name for p in removed} == leftover, f"{where}: swept {removed}, left over {sorted(leftover)}"
    assert os.listdir(vault) == [canvas.name], f"{where}: {os.listdir(vault)}"
    with CanvasEngine(settings) as engine:
        result = engine.apply(canvas, Patch(writer.patch_ops(count)))
        snapshot = engine.read(canvas)
    assert result.version == snapshot.version == content_version(snapshot.raw)
    assert snapshot.document["nodes"] == writer.expected_nodes(count + 1)
    assert os.listdir(vault) == [canvas.name], f"{where}: {os.listdir(vault)}"
    print(f"{where}; {rounds_with_acks} rounds acknowledged writes; {len(coalesced_versions)} coalesced commits seen; "
          f"{rounds_with_temp} kills left a temp file")
