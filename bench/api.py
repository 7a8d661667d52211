"""HTTP API benchmark: real daemons over their Unix socket, optimisations on and off in one run.

Starts `canvasd serve` twice as a subprocess on a temporary vault of generated canvases (10 KB and 100 KB):
once with the defaults (read cache, batch writer, orjson, uvloop + httptools) and once with a config file
turning every optimisation off. Against each it measures cached GET latency at 1 connection, GET throughput
at 32 and 256 keep-alive connections, PATCH throughput with the physical writes it caused, 1,000 concurrent
connections, then idle CPU and RSS; also start -> ready time and `canvasd --help` wall time. The load comes
from `bench/loadgen.py` (raw HTTP/1.1 clients on uvloop, in two processes from 32 connections up), whose CPU
is reported beside the daemon's. Prints tables, then one final line of JSON with every figure and target.

    .venv/bin/python bench/api.py            # full run (about 2-3 minutes on 2 cores)
    .venv/bin/python bench/api.py --quick    # shorter runs (about 1 minute)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import loadgen
from loadgen import LoadResult, build_request, run_load
from report import fmt, gain, target_check

# One harness for tests and benchmarks (the editable install puts the repository root on sys.path); it imports
# only the standard library until a daemon is made, so the load generator's worker processes stay quick.
from tests.support.daemon import DaemonProcess, canvasd_command

# canvas_io (the canvas generator) imports the canvas engine: it is imported inside the functions that need
# it, so the load generator's worker processes, which re-import this module, start quickly.

KIB = 1024
VAULT = "bench"
SIZES = {"10KB": 10 * KIB, "100KB": 100 * KIB}
PATCH_CANVAS = "patch-100KB.canvas"
OPTIMISED, BASELINE = "optimised", "baseline"
# This benchmark measures the HTTP and canvas I/O path: both daemons run without the semantic index and the
# memory graph, whose embedding work would compete for the CPU (bench/index.py and bench/memory.py cover them).
SUBSYSTEMS_OFF: dict[str, Any] = {"index": {"enabled": False}, "memory": {"enabled": False}}
OPTIMISED_CONFIG: dict[str, Any] = dict(SUBSYSTEMS_OFF)
# Every optimisation off: the plain fallbacks (see config/optimization.yaml).
BASELINE_CONFIG = {
    **SUBSYSTEMS_OFF,
    "read_cache": {"enabled": False},
    "batch_writer": {"enabled": False},
    "json_engine": "json",
    "fast_http": {"enabled": False},
}
M_PHYS = "canvasd_canvas_physical_writes_total"
M_OPS = "canvasd_canvas_logical_ops_total"

TARGETS: dict[str, dict[str, Any]] = {
    "get_100KB_p50_1conn_ms": {"op": "<=", "value": 0.5, "unit": "ms"},
    "get_100KB_rps_32conn": {"op": ">=", "value": 2000, "unit": "req/s"},
    "get_100KB_rps_32conn_gain": {"op": ">=", "value": 10.0, "unit": "x"},
    "conn1000_errors": {"op": "<=", "value": 0, "unit": "errors"},
    "idle_cpu_pct": {"op": "<", "value": 1.0, "unit": "%"},
    "rss_mb": {"op": "<=", "value": 120, "unit": "MB"},
    "help_wall_s": {"op": "<=", "value": 0.3, "unit": "s"},
    "start_ready_s": {"op": "<", "value": 1.0, "unit": "s"},
}


@dataclass(frozen=True)
class Plan:
    """How long each part runs."""

    latency_s: float        # 1-connection GET runs
    throughput_s: float     # 32 / 256-connection GET runs
    patch_s: float          # PATCH runs
    warmup_s: float         # unrecorded start of each timed run
    conn1000_requests: int  # GETs per connection in the 1,000-connection run
    idle_s: float           # idle CPU window
    settle_s: float         # pause after the load before the idle window
    help_runs: int
    start_runs: int         # extra starts of the optimised daemon for the start -> ready median


FULL = Plan(latency_s=3.0, throughput_s=5.0, patch_s=5.0, warmup_s=0.5, conn1000_requests=5, idle_s=10.0,
            settle_s=2.0, help_runs=5, start_runs=5)
QUICK = Plan(latency_s=1.5, throughput_s=2.0, patch_s=2.0, warmup_s=0.3, conn1000_requests=3, idle_s=5.0,
             settle_s=1.0, help_runs=5, start_runs=3)


# ------------------------------------------------------------------------------------------- the daemon


def new_daemon(root: Path, label: str, vault: Path, config: dict[str, Any] | None) -> DaemonProcess:
    """A daemon serving `vault` as VAULT with exactly `config` (None: the daemon's defaults), in root/label."""
    return DaemonProcess(root / label, label=label, vaults={VAULT: vault}, config=config, test_defaults=False)


def stop_daemon(daemon: DaemonProcess) -> float | None:
    """SIGTERM and wait; the seconds the shutdown took (None: it had to be killed). The client is closed."""
    try:
        return daemon.stop()
    except subprocess.TimeoutExpired:
        return None
    finally:
        daemon.close()


# ------------------------------------------------------------------------------------------ measuring


def make_vault(folder: Path) -> dict[str, Any]:
    """The generated canvases (mtime in the past, so cached reads are not re-checked); their sizes and ids."""
    from canvas_io import make_canvas, write_aged

    folder.mkdir(parents=True)
    info: dict[str, Any] = {}
    for i, (label, target) in enumerate(SIZES.items()):
        raw, text_ids = make_canvas(target, seed=300 + i)
        write_aged(folder / f"bench-{label}.canvas", raw)
        info[label] = {"bytes": len(raw), "text_nodes": len(text_ids)}
    raw, text_ids = make_canvas(SIZES["100KB"], seed=400)
    write_aged(folder / PATCH_CANVAS, raw)
    info["patch"] = {"bytes": len(raw), "text_ids": text_ids}
    return info


def canvas_target(name: str) -> str:
    return f"/v1/vaults/{VAULT}/canvases/{name}"


def patch_bodies(text_ids: list[str], n: int = 4096) -> list[bytes]:
    """`n` different single-op patches: update_node setting a new text (and colour) on a text node."""
    rng = random.Random(11)
    bodies = []
    for i in range(n):
        op = {"op": "update_node", "id": text_ids[i % len(text_ids)],
              "set": {"text": f"## 修改 edit {i}\nbench patch {rng.getrandbits(32):08x}", "color": str(1 + i % 6)}}
        bodies.append(json.dumps({"ops": [op]}, ensure_ascii=False).encode())
    return bodies


class Probe:
    """Daemon CPU over exactly the loaded stretch (between the load generator's on_go and on_done)."""

    def __init__(self, daemon: DaemonProcess) -> None:
        self.daemon = daemon
        self.t0 = self.c0 = self.t1 = self.c1 = 0.0

    def go(self) -> None:
        self.t0, self.c0 = time.perf_counter(), self.daemon.cpu_s()

    def done(self) -> None:
        self.t1, self.c1 = time.perf_counter(), self.daemon.cpu_s()

    def cpu_pct(self) -> float:
        return round(100 * (self.c1 - self.c0) / max(self.t1 - self.t0, 1e-9), 1)


def load(daemon: DaemonProcess, name: str, requests: bytes | list[bytes], runs: list[dict[str, Any]],
         **kwargs: Any) -> LoadResult:
    """One load run with the daemon's CPU sampled around it; appended to `runs` for the detail table."""
    probe = Probe(daemon)
    result = run_load(daemon.socket, requests, on_go=probe.go, on_done=probe.done, **kwargs)
    row = {"daemon": daemon.label, "run": name, **result.to_dict(), "daemon_cpu_pct": probe.cpu_pct()}
    runs.append(row)
    return result


def check_get(daemon: DaemonProcess, name: str, size: int) -> dict[str, Any]:
    """One GET and one conditional GET: the right bytes, an ETag, and a 304 for it."""
    response = loadgen.request(daemon.socket, "GET", canvas_target(name))
    tag = response.headers.get("etag")
    ok = response.status == 200 and len(response.body) == size and tag is not None
    not_modified = None
    if tag is not None:
        not_modified = loadgen.request(daemon.socket, "GET", canvas_target(name),
                                       headers={"If-None-Match": tag}).status
    if not ok:
        raise RuntimeError(f"{daemon.label}: GET {name} answered {response.status} with {len(response.body)} bytes "
                           f"(file {size}), ETag {tag}: {response.body[:300]!r}")
    return {"status": response.status, "bytes": len(response.body), "etag": tag, "if_none_match": not_modified}


def bench_daemon(root: Path, label: str, config: dict[str, Any] | None, plan: Plan) -> dict[str, Any]:
    """Every measurement against one daemon."""
    vault = root / f"vault-{label}"
    canvases = make_vault(vault)
    daemon = new_daemon(root, label, vault, config)
    out: dict[str, Any] = {"config": config or "defaults", "canvases": {k: v["bytes"] for k, v in canvases.items()}}
    runs: list[dict[str, Any]] = []
    out["runs"] = runs
    try:
        out["start_ready_s"] = round(daemon.start(wait_watcher=False), 3)  # the API answers
        out["health"] = daemon.wait_background()
        out["optimizations"] = daemon.get_json("/v1/metrics/summary").get("optimizations")
        out["check"] = {size: check_get(daemon, f"bench-{size}.canvas", canvases[size]["bytes"]) for size in SIZES}
        gets = {size: build_request("GET", canvas_target(f"bench-{size}.canvas")) for size in SIZES}

        latency: dict[str, Any] = {}
        for size, req in gets.items():
            r = load(daemon, f"GET {size} x1", req, runs, connections=1, duration_s=plan.latency_s,
                     warmup_s=plan.warmup_s, workers=1)
            latency[size] = {"p50_ms": r.p50_ms, "p95_ms": r.p95_ms, "p99_ms": r.p99_ms, "rps": r.rps,
                             "errors": r.errors}
        out["get_1conn"] = latency

        throughput: dict[str, Any] = {}
        for conns in (32, 256):
            for size, req in gets.items():
                r = load(daemon, f"GET {size} x{conns}", req, runs, connections=conns,
                         duration_s=plan.throughput_s, warmup_s=plan.warmup_s)
                throughput[f"{size}_{conns}"] = {"rps": r.rps, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms,
                                                 "errors": r.errors}
        out["get_throughput"] = throughput

        out["patch"] = bench_patch(daemon, canvases["patch"]["text_ids"], plan, runs)

        r = load(daemon, "GET 10KB x1000", gets["10KB"], runs, connections=1000,
                 per_connection=plan.conn1000_requests, timeout_s=60.0)
        out["conn1000"] = {"connections": 1000, "connected": r.connected, "requests": r.requests, "errors": r.errors,
                           "error_kinds": r.error_kinds, "connect_s": r.connect_s, "elapsed_s": r.elapsed_s,
                           "p50_ms": r.p50_ms, "p99_ms": r.p99_ms, "max_ms": r.max_ms,
                           "healthy_after": loadgen.request(daemon.socket, "GET", "/v1/health").status == 200}

        time.sleep(plan.settle_s)
        c0, t0 = daemon.cpu_s(), time.perf_counter()
        time.sleep(plan.idle_s)
        c1, t1 = daemon.cpu_s(), time.perf_counter()
        rss, peak = daemon.memory()
        out["idle"] = {"cpu_pct": round(100 * (c1 - c0) / (t1 - t0), 2), "window_s": round(t1 - t0, 1),
                       "rss_mb": round(rss, 1), "peak_rss_mb": round(peak, 1) if peak is not None else None,
                       "threads": daemon.ps.num_threads(), "fds": daemon.ps.num_fds()}
        summary = daemon.get_json("/v1/metrics/summary")
        out["summary"] = {k: summary.get(k) for k in ("requests", "cache", "writes")}
    except Exception:
        out["log_tail"] = daemon.log_tail(15)
        raise
    finally:
        shutdown = stop_daemon(daemon)
        out["shutdown_s"] = round(shutdown, 3) if shutdown is not None else None
        if daemon.returncode not in (0, None):
            out["exit_code"] = daemon.returncode
            out.setdefault("log_tail", daemon.log_tail(15))
    return out


def bench_patch(daemon: DaemonProcess, text_ids: list[str], plan: Plan, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """32 connections patching one 100 KB canvas: waiting for the durable commit, then with ?wait=false."""
    bodies = patch_bodies(text_ids)
    out: dict[str, Any] = {"canvas": PATCH_CANVAS, "connections": 32}
    for mode, query in (("wait", ""), ("no_wait", "?wait=false")):
        reqs = [build_request("PATCH", canvas_target(PATCH_CANVAS) + query, body=body,
                              headers={"Content-Type": "application/json"}) for body in bodies]
        w0, o0 = daemon.metric(M_PHYS), daemon.metric(M_OPS)
        r = load(daemon, f"PATCH 100KB x32 {mode}", reqs, runs, connections=32, duration_s=plan.patch_s,
                 warmup_s=0.0)
        t0 = time.perf_counter()
        flushed = loadgen.request(daemon.socket, "POST", "/v1/flush", timeout_s=60).status
        flush_s = time.perf_counter() - t0
        writes, ops = daemon.metric(M_PHYS) - w0, daemon.metric(M_OPS) - o0
        out[mode] = {"rps": r.rps, "requests": r.requests, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms,
                     "errors": r.errors, "statuses": r.statuses, "physical_writes": int(writes),
                     "logical_ops": int(ops), "requests_per_write": round(r.requests / writes, 1) if writes else None,
                     "flush_status": flushed, "flush_ms": round(flush_s * 1000, 1)}
    return out


def bytecode_cached() -> bool:
    """Whether the daemon's own modules have compiled bytecode to start from (else each start compiles them)."""
    import canvasd

    if sys.pycache_prefix:
        return True
    return any((Path(canvasd.__file__).parent / "__pycache__").glob("cli.*.pyc"))


def bench_start(root: Path, runs: int) -> dict[str, Any]:
    """Start -> ready of the default daemon `runs` times (empty vault, fresh data folder each time)."""
    times = []
    vault = root / "vault-start"
    vault.mkdir()
    for i in range(runs):
        daemon = new_daemon(root, f"start-{i}", vault, None)
        try:
            times.append(daemon.start(wait_watcher=False))
        finally:
            stop_daemon(daemon)
    return {"median_s": round(statistics.median(times), 3), "first_s": round(times[0], 3),
            "min_s": round(min(times), 3), "max_s": round(max(times), 3), "runs": runs}


def bench_help(runs: int) -> dict[str, Any]:
    """`canvasd --help` wall time: one untimed warm-up, then the median of `runs`."""
    cmd = [*canvasd_command(), "--help"]
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - t0)
    return {"median_s": round(statistics.median(times), 3), "min_s": round(min(times), 3),
            "max_s": round(max(times), 3), "runs": runs, "command": " ".join(cmd)}


# ------------------------------------------------------------------------------------------ reporting




def check(name: str, value: float | None) -> dict[str, Any]:
    return target_check(TARGETS, name, value)


def figures(opt: dict[str, Any], base: dict[str, Any]) -> list[dict[str, Any]]:
    """The summary rows: optimised, baseline, gain (how many times better the optimised daemon is)."""
    rows: list[dict[str, Any]] = []

    def row(name: str, unit: str, a: float | None, b: float | None, *, higher: bool, target: str = "") -> None:
        rows.append({"name": name, "unit": unit, OPTIMISED: a, BASELINE: b,
                     "gain": gain(a, b, higher_is_better=higher), "target": target})

    def get(d: dict[str, Any], *keys: str) -> Any:
        for k in keys:
            if not isinstance(d, dict) or k not in d:
                return None
            d = d[k]
        return d

    row("start -> ready (first start of each)", "s", get(opt, "start_ready_s"), get(base, "start_ready_s"),
        higher=False)
    for size in SIZES:
        tgt = "<= 0.5" if size == "100KB" else ""
        row(f"GET {size} p50, 1 conn", "ms", get(opt, "get_1conn", size, "p50_ms"),
            get(base, "get_1conn", size, "p50_ms"), higher=False, target=tgt)
        row(f"GET {size} p99, 1 conn", "ms", get(opt, "get_1conn", size, "p99_ms"),
            get(base, "get_1conn", size, "p99_ms"), higher=False)
    for conns in (32, 256):
        for size in SIZES:
            tgt = ">= 2000, >= 10x" if (size, conns) == ("100KB", 32) else ""
            row(f"GET {size} throughput, {conns} conns", "req/s", get(opt, "get_throughput", f"{size}_{conns}", "rps"),
                get(base, "get_throughput", f"{size}_{conns}", "rps"), higher=True, target=tgt)
    for mode, title in (("wait", "PATCH (durable)"), ("no_wait", "PATCH ?wait=false")):
        row(f"{title} throughput, 32 conns", "req/s", get(opt, "patch", mode, "rps"),
            get(base, "patch", mode, "rps"), higher=True)
        row(f"{title} physical writes", "writes", get(opt, "patch", mode, "physical_writes"),
            get(base, "patch", mode, "physical_writes"), higher=False)
        row(f"{title} requests per write", "req", get(opt, "patch", mode, "requests_per_write"),
            get(base, "patch", mode, "requests_per_write"), higher=True)
    row("1,000 connections: errors", "errors", get(opt, "conn1000", "errors"), get(base, "conn1000", "errors"),
        higher=False, target="0")
    row("1,000 connections: p99", "ms", get(opt, "conn1000", "p99_ms"), get(base, "conn1000", "p99_ms"),
        higher=False)
    row("idle CPU", "%", get(opt, "idle", "cpu_pct"), get(base, "idle", "cpu_pct"), higher=False, target="< 1")
    row("RSS after load", "MB", get(opt, "idle", "rss_mb"), get(base, "idle", "rss_mb"), higher=False,
        target="<= 120")
    row("peak RSS", "MB", get(opt, "idle", "peak_rss_mb"), get(base, "idle", "peak_rss_mb"), higher=False)
    return rows



def print_report(r: dict[str, Any]) -> None:
    p = print
    env = r["env"]
    p(f"canvasd HTTP API benchmark ({r['mode']} run) - Python {env['python']}, {env['cpus']} CPUs "
      f"(1-min load {env['loadavg_1m_at_start']} at start), temp dir on {env['filesystem']}, took {r['elapsed_s']} s")
    p(f"daemons: {OPTIMISED} = defaults; {BASELINE} = {json.dumps(BASELINE_CONFIG)}")
    for label in (OPTIMISED, BASELINE):
        d = r.get(label, {})
        if "failed" in d:
            p(f"  {label}: FAILED {d['failed']}")
        else:
            p(f"  {label}: optimizations reported {json.dumps(d.get('optimizations'))}; canvases {d.get('canvases')}")
    if env["loadavg_1m_at_start"] > 0.5 or env.get("loadavg_1m_at_end", 0) > 2.5:
        p(f"NOTE: other processes were busy (1-min load {env['loadavg_1m_at_start']} at start, "
          f"{env.get('loadavg_1m_at_end')} at end on {env['cpus']} CPUs): figures are noisy, rerun on a quiet machine")
    if not env.get("bytecode_cached"):
        p("NOTE: canvasd has no bytecode cache (PYTHONDONTWRITEBYTECODE="
          f"{env.get('PYTHONDONTWRITEBYTECODE')}): its modules are compiled on every start and --help")
    p("load: raw HTTP/1.1 keep-alive clients on uvloop (bench/loadgen.py), 1 process below 32 connections, else 2; "
      "latency per request, warm-up excluded")
    p("")
    p("Load runs")
    head = (f"   {'daemon':<9} {'run':<24} {'conns':>5} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
            f"{'errors':>6} {'client CPU':>10} {'daemon CPU':>10}")
    p(head)
    for label in (OPTIMISED, BASELINE):
        for run in r.get(label, {}).get("runs", []):
            p(f"   {label:<9} {run['run']:<24} {run['connections']:>5} {run['rps']:>9,.0f} {fmt(run['p50_ms']):>8} "
              f"{fmt(run['p95_ms']):>8} {fmt(run['p99_ms']):>8} {run['errors']:>6} "
              f"{run['client_cpu_pct']:>9.0f}% {run['daemon_cpu_pct']:>9.0f}%")
    p("   (CPU in % of one core; the client's summed over its processes)")
    for label in (OPTIMISED, BASELINE):
        for run in r.get(label, {}).get("runs", []):
            if run["errors"]:
                p(f"   errors in {label} {run['run']}: {run['error_kinds']}")
    p("")
    p("Figures")
    p(f"   {'figure':<40} {'unit':<6} {OPTIMISED:>10} {BASELINE:>10} {'gain':>7}  target")
    for row in r["figures"]:
        g = f"{row['gain']}x" if row["gain"] is not None else "-"
        p(f"   {row['name']:<40} {row['unit']:<6} {fmt(row[OPTIMISED]):>10} {fmt(row[BASELINE]):>10} {g:>7}  "
          f"{row['target']}")
    st, h = r["start"], r["help"]
    p(f"   {'start -> ready (median of ' + str(st['runs']) + ')':<40} {'s':<6} {fmt(st['median_s']):>10} "
      f"{'-':>10} {'-':>7}  < 1  (first {st['first_s']}, range {st['min_s']}-{st['max_s']})")
    p(f"   {'canvasd --help wall (median of ' + str(h['runs']) + ')':<40} {'s':<6} {fmt(h['median_s']):>10} "
      f"{'-':>10} {'-':>7}  <= 0.3  (range {h['min_s']}-{h['max_s']})")
    p("")
    p("Targets")
    for t in r["targets"]:
        p(f"   {t['name']:<28} {t['target']:<9} {t['unit']:<7} measured {fmt(t['value']):<10} "
          f"{'PASS' if t['pass'] else 'MISS'}")


def main(argv: list[str] | None = None) -> int:
    from canvas_io import filesystem_of

    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (about 1 minute)")
    parser.add_argument("--only", choices=(OPTIMISED, BASELINE), help="run one daemon only")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (daemon logs)")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    started = time.perf_counter()
    nofile = loadgen.raise_nofile_limit()  # the daemons inherit it: 1,000 connections need the descriptors
    root = Path(tempfile.mkdtemp(prefix="canvasd-api-"))
    try:
        import uvloop

        env = {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
               "filesystem": filesystem_of(root), "loadavg_1m_at_start": round(os.getloadavg()[0], 2),
               "uvloop": uvloop.__version__, "nofile_limit": nofile, "command": canvasd_command(),
               "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE"),
               "bytecode_cached": bytecode_cached()}
        result: dict[str, Any] = {"benchmark": "api", "mode": "quick" if args.quick else "full", "env": env,
                                  "plan": plan.__dict__}
        result["help"] = bench_help(plan.help_runs)
        result["start"] = bench_start(root, plan.start_runs)
        for label, config in ((OPTIMISED, OPTIMISED_CONFIG), (BASELINE, BASELINE_CONFIG)):
            if args.only and args.only != label:
                continue
            try:
                result[label] = bench_daemon(root, label, config, plan)
            except Exception as exc:  # report what we have; the other daemon may still run
                result[label] = {"failed": f"{type(exc).__name__}: {exc}"}
                print(f"{label} daemon: {type(exc).__name__}: {exc}", file=sys.stderr)
    finally:
        if args.keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    opt, base = result.get(OPTIMISED, {}), result.get(BASELINE, {})
    result["figures"] = figures(opt, base)
    by_name = {row["name"]: row for row in result["figures"]}
    g32 = by_name["GET 100KB throughput, 32 conns"]
    result["targets"] = [
        check("get_100KB_p50_1conn_ms", by_name["GET 100KB p50, 1 conn"][OPTIMISED]),
        check("get_100KB_rps_32conn", g32[OPTIMISED]),
        check("get_100KB_rps_32conn_gain", g32["gain"]),
        check("conn1000_errors", by_name["1,000 connections: errors"][OPTIMISED]),
        check("idle_cpu_pct", by_name["idle CPU"][OPTIMISED]),
        check("rss_mb", by_name["RSS after load"][OPTIMISED]),
        check("help_wall_s", result["help"]["median_s"]),
        check("start_ready_s", result["start"]["median_s"]),
    ]
    result["all_pass"] = all(t["pass"] for t in result["targets"])
    result["env"]["loadavg_1m_at_end"] = round(os.getloadavg()[0], 2)
    result["elapsed_s"] = round(time.perf_counter() - started, 1)
    print_report(result)
    print(json.dumps(result, ensure_ascii=False, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
