"""Canvas I/O benchmark: the canvas engine's optimisations against their plain baselines, in one run.

Measures cached reads vs stdlib read+parse, orjson vs json, physical writes with and without the batch
writer (a burst, and agents editing 20 canvases), the read-cache hit rate on a Zipf read-heavy trace,
durable commit latency, and the batch writer's leading edge against trailing-only group commit (a lone
durable write's latency, a burst's physical writes, 32 concurrent durable writers on one canvas). Prints a
table, then one final line of JSON holding every figure and target.

    .venv/bin/python bench/canvas_io.py            # full run (about 1-2 minutes on 2 cores)
    .venv/bin/python bench/canvas_io.py --quick    # smaller counts, sizes up to 1 MB (< 20 s)

Canvases are generated (Obsidian's layout, mixed Chinese/English text nodes, colours, edges) in a
temporary directory that is removed at the end.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson
from report import pct

import canvasd
from canvasd.canvas import CanvasEngine, Patch
from canvasd.config import load_settings
from tests.support.canvas_factory import obsidian

KIB = 1024
MIB = 1024 * KIB
SIZES = {"10KB": 10 * KIB, "100KB": 100 * KIB, "1MB": MIB, "10MB": 10 * MIB}
AGE_NS = 10 * 1_000_000_000  # generated files get an mtime this far in the past (read-cache "racy" window)
COLORS = ("1", "3", "4", "6")

TARGETS = {
    "cached_read_speedup_100KB": {"op": ">=", "value": 20.0, "unit": "x"},
    "burst_physical_writes_batched": {"op": "<=", "value": 2, "unit": "writes"},
    "zipf_hit_rate": {"op": ">=", "value": 0.95, "unit": "ratio"},
    "commit_p50_1MB_ms": {"op": "<=", "value": 15.0, "unit": "ms"},
    "lone_durable_write_p50_ms": {"op": "<=", "value": 10.0, "unit": "ms"},
    "burst_physical_writes_leading": {"op": "<=", "value": 2, "unit": "writes"},
    "concurrent32_throughput_gain": {"op": ">=", "value": 3.0, "unit": "x"},
    "concurrent32_requests_per_write": {"op": ">=", "value": 10.0, "unit": "req"},
}
GROUP_WINDOW_MS = 100  # the shipped window, for the leading-edge comparison (section 6)
SHORT_WINDOW_MS = 30  # section 6 also shows what a shorter window does with the leading edge (not a target)

M_PHYS = "canvasd_canvas_physical_writes_total"
M_OPS = "canvasd_canvas_logical_ops_total"
M_HITS = "canvasd_read_cache_hits_total"
M_MISSES = "canvasd_read_cache_misses_total"
M_EVICT = "canvasd_read_cache_evictions_total"
M_REVAL = "canvasd_read_cache_revalidations_total"
M_BYTES = "canvasd_canvas_written_bytes_total"


# ----------------------------------------------------------------------------------- canvas generation

ZH = [
    "极限的定义：当 x 趋近于 a 时，f(x) 趋近于 L", "导数是瞬时变化率", "链式法则用于复合函数求导",
    "费曼学习法：用自己的话解释一遍", "积分可以理解为面积的累加", "泰勒展开把函数写成多项式",
    "反例能帮助检验理解是否正确", "这里我还没有完全理解", "复习：间隔重复比集中背诵更有效",
    "矩阵乘法不满足交换律", "特征值描述线性变换的伸缩方向", "概率与统计的区别在于推断的方向",
    "先画图，再写公式", "这个结论需要连续性作为前提",
]
EN = [
    "The limit describes behaviour near a point, not at it.", "Derivative = slope of the tangent line.",
    "Apply the chain rule from the outside in.", "Explain it as if to a twelve-year-old.",
    "Integration accumulates small pieces.", "See also [[Taylor series]] and [[Fourier series]].",
    "Question: why does this converge?", "Example: d/dx sin(x) = cos(x)", "TODO: find a counterexample",
    "Eigenvectors keep their direction under the map.", "Key idea: local linear approximation.",
]
TITLES = ["微积分 Calculus", "线性代数 Linear algebra", "概率论 Probability", "复习 Review", "问题 Open questions"]


def _hex_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(64):016x}"


def _text(rng: random.Random) -> str:
    lines = []
    if rng.random() < 0.4:
        lines.append("## " + rng.choice(ZH))
    for _ in range(rng.randint(1, 5)):
        zh_or_en = rng.choice(ZH) + "。" if rng.random() < 0.5 else rng.choice(EN)
        lines.append(("- " if rng.random() < 0.3 else "") + zh_or_en)
    return "\n".join(lines)


def _node(rng: random.Random, i: int) -> dict:
    x, y = (i % 12) * 320 + rng.randint(-40, 40), (i // 12) * 220 + rng.randint(-40, 40)
    roll = rng.random()
    if roll < 0.03:
        return {"id": _hex_id(rng), "type": "group", "x": x - 20, "y": y - 20, "width": 1300, "height": 700,
                "label": rng.choice(TITLES)}
    if roll < 0.08:
        node = {"id": _hex_id(rng), "type": "file", "file": f"笔记/{rng.choice(TITLES)}/{i}.md", "x": x, "y": y,
                "width": 400, "height": 400}
    else:
        node = {"id": _hex_id(rng), "type": "text", "text": _text(rng), "x": x, "y": y, "width": 250,
                "height": rng.choice((60, 120, 180, 240))}
    if rng.random() < 0.5:
        node["color"] = rng.choice(COLORS)
    return node


def _edge(rng: random.Random, a: str, b: str) -> dict:
    edge = {"id": _hex_id(rng), "fromNode": a, "fromSide": rng.choice(("right", "bottom")), "toNode": b,
            "toSide": rng.choice(("left", "top"))}
    if rng.random() < 0.2:
        edge["label"] = rng.choice(("推出 leads to", "例子 example", "对比 contrast"))
    if rng.random() < 0.15:
        edge["color"] = rng.choice(COLORS)
    return edge


def make_canvas(target: int, seed: int) -> tuple[bytes, list[str]]:
    """Canvas bytes in Obsidian's layout (tests/support/canvas_factory.py's formatter) of about `target` bytes,
    and the ids of its text nodes."""
    rng = random.Random(seed)
    nodes: list[dict] = []
    edges: list[dict] = []
    text_ids: list[str] = []
    size = len(b'{\n\t"nodes":[\n\n\t],\n\t"edges":[\n\n\t]\n}')
    while size < target:  # each item is one line: two tabs, its compact JSON, and ",\n" between lines
        node = _node(rng, len(nodes))
        nodes.append(node)
        size += 2 + len(orjson.dumps(node)) + (2 if len(nodes) > 1 else 0)
        if node["type"] == "text":
            text_ids.append(node["id"])
        if len(nodes) > 1 and rng.random() < 0.8 and size < target:
            a = nodes[-1]["id"]
            b = nodes[max(0, len(nodes) - 1 - rng.randint(1, 15))]["id"]
            edges.append(_edge(rng, a, b))
            size += 2 + len(orjson.dumps(edges[-1])) + (2 if len(edges) > 1 else 0)
    raw = obsidian({"nodes": nodes, "edges": edges}).encode()
    assert len(raw) == size
    return raw, text_ids


def make_canvases(count: int, low: int, high: int, seed: int) -> list[tuple[bytes, list[str]]]:
    """`count` canvases of random sizes between `low` and `high` bytes (reproducible)."""
    return [make_canvas(random.Random(c).randint(low, high), seed=seed + c) for c in range(count)]


def write_aged(path: Path, raw: bytes) -> None:
    """Write a canvas and move its mtime AGE_NS into the past, so cached reads need no byte-for-byte check."""
    path.write_bytes(raw)
    past = time.time_ns() - AGE_NS
    os.utime(path, ns=(past, past))


def add_node_op(rng: random.Random, node_id: str) -> dict:
    return {"op": "add_node", "node": {"id": node_id, "type": "text", "text": _text(rng),
                                       "x": rng.randint(-2000, 4000), "y": rng.randint(-2000, 8000),
                                       "width": 250, "height": 120, "color": rng.choice(COLORS)}}


def update_node_op(rng: random.Random, node_id: str, n: int) -> dict:
    return {"op": "update_node", "id": node_id, "set": {"color": COLORS[n % 4], "x": rng.randint(-2000, 4000)}}


# ------------------------------------------------------------------------------------------ measuring


def settings(*, cache: bool = True, batching: bool = True, engine: str = "orjson", leading_edge: bool = True,
             window_ms: float = GROUP_WINDOW_MS):
    return load_settings(read_cache={"enabled": cache},
                         batch_writer={"enabled": batching, "window_ms": window_ms, "fsync": True,
                                       "leading_edge": leading_edge},
                         json_engine=engine)


def summary(us: list[float]) -> dict:
    return {"median_us": round(statistics.median(us), 2), "p95_us": round(pct(us, 0.95), 2), "n": len(us)}


def sample_us(fn, max_n: int, budget_s: float, min_n: int = 5) -> list[float]:
    """Per-call times in µs: one untimed warm-up call, then up to max_n calls or budget_s seconds."""
    fn()
    gc.collect()
    out: list[float] = []
    deadline = time.perf_counter() + budget_s
    clock = time.perf_counter_ns
    for _ in range(max_n):
        t0 = clock()
        fn()
        out.append((clock() - t0) / 1000)
        if len(out) >= min_n and time.perf_counter() > deadline:
            break
    return out


def stdlib_read(path: Path) -> dict:
    with open(path, "rb") as f:
        return json.loads(f.read())


def bench_reads(root: Path, sizes: dict[str, int], quick: bool) -> tuple[dict, dict, dict[str, int]]:
    """Sections 1 and 2: cached engine reads vs stdlib read+parse; orjson vs json on the same bytes."""
    reads: dict = {}
    parses: dict = {}
    actual: dict[str, int] = {}
    budget = 0.3 if quick else 1.5
    for i, (label, target) in enumerate(sizes.items()):
        raw, _ = make_canvas(target, seed=100 + i)
        actual[label] = len(raw)
        path = root / f"read-{label}.canvas"
        write_aged(path, raw)
        with CanvasEngine(settings(cache=True)) as eng:
            m = eng.metrics
            h0, r0 = m.value(M_HITS), m.value(M_REVAL)
            cached = sample_us(lambda eng=eng, path=path: eng.read(path), 20000, budget, min_n=200)
            hits, revals = m.value(M_HITS) - h0, m.value(M_REVAL) - r0
        with CanvasEngine(settings(cache=False)) as plain:
            no_cache = sample_us(lambda plain=plain, path=path: plain.read(path), 2000, budget, min_n=5)
        stdlib = sample_us(lambda path=path: stdlib_read(path), 2000, budget, min_n=5)
        c, s, n = summary(cached), summary(stdlib), summary(no_cache)
        reads[label] = {
            "bytes": len(raw), "cached": c, "stdlib": s, "engine_no_cache_orjson": n,
            "speedup": round(s["median_us"] / c["median_us"], 1),
            "cache_hits": int(hits), "revalidations": int(revals),
        }
        oj = summary(sample_us(lambda raw=raw: orjson.loads(raw), 2000, budget / 2, min_n=5))
        js = summary(sample_us(lambda raw=raw: json.loads(raw), 2000, budget / 2, min_n=5))
        parses[label] = {"bytes": len(raw), "orjson": oj, "json": js,
                         "ratio": round(js["median_us"] / oj["median_us"], 1)}
        del raw
        gc.collect()
    return reads, parses, actual


def bench_burst(root: Path, n_patches: int) -> dict:
    """Section 3a: n_patches submitted to one 100 KB canvas without waiting, then flush."""
    out: dict = {}
    raw, ids = make_canvas(100 * KIB, seed=7)
    for mode, batching in (("batched", True), ("unbatched", False)):
        path = root / f"burst-{mode}.canvas"
        write_aged(path, raw)
        rng = random.Random(8)
        with CanvasEngine(settings(batching=batching)) as eng:
            m = eng.metrics
            w0, o0, b0 = m.value(M_PHYS), m.value(M_OPS), m.value(M_BYTES)
            t0 = time.perf_counter()
            futures = []
            for i in range(n_patches):
                op = update_node_op(rng, ids[i % len(ids)], i) if i % 2 == 0 else add_node_op(rng, f"burst{i:05d}")
                futures.append(eng.submit(path, Patch([op])))
            submitted = time.perf_counter()
            eng.flush()
            failed = sum(1 for f in futures if f.exception() is not None)
            done = time.perf_counter()
            doc = eng.read(path).document
        added = sum(1 for node in doc["nodes"] if node["id"].startswith("burst"))
        out[mode] = {"patches": n_patches, "canvas_bytes": len(raw), "physical_writes": int(m.value(M_PHYS) - w0),
                     "logical_ops": int(m.value(M_OPS) - o0), "written_bytes": int(m.value(M_BYTES) - b0),
                     "failed": failed, "nodes_added": added,
                     "submit_ms": round((submitted - t0) * 1000, 1), "total_ms": round((done - t0) * 1000, 1)}
    return out


def bench_agents(root: Path, n_patches: int, n_agents: int, n_canvases: int) -> dict:
    """Section 3b: agents each sending a patch every 5-20 ms to random canvases, without waiting."""
    canvases = make_canvases(n_canvases, 20 * KIB, 50 * KIB, seed=1000)
    out: dict = {}
    for mode, batching in (("batched", True), ("unbatched", False)):
        paths = []
        for c, (raw, _) in enumerate(canvases):
            path = root / f"agents-{mode}-{c:02d}.canvas"
            write_aged(path, raw)
            paths.append(path)
        futures: list = []
        lock = threading.Lock()
        per_agent = n_patches // n_agents

        def agent(k: int, eng: CanvasEngine, paths=paths, futures=futures, lock=lock, per_agent=per_agent) -> None:
            rng = random.Random(500 + k)
            for i in range(per_agent):
                c = rng.randrange(len(paths))
                ids = canvases[c][1]
                if rng.random() < 0.7:
                    ops = [update_node_op(rng, rng.choice(ids), i)]
                else:
                    new = f"agent{k}-{i:04d}"
                    ops = [add_node_op(rng, new), {"op": "add_edge", "edge": {
                        "id": f"e-{new}", "fromNode": rng.choice(ids), "fromSide": "right", "toNode": new,
                        "toSide": "left"}}]
                fut = eng.submit(paths[c], Patch(ops))
                with lock:
                    futures.append(fut)
                time.sleep(rng.uniform(0.005, 0.020))

        with CanvasEngine(settings(batching=batching)) as eng:
            m = eng.metrics
            w0, o0, b0 = m.value(M_PHYS), m.value(M_OPS), m.value(M_BYTES)
            t0 = time.perf_counter()
            threads = [threading.Thread(target=agent, args=(k, eng)) for k in range(n_agents)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            eng.flush()
            elapsed = time.perf_counter() - t0
            failed = sum(1 for f in futures if f.exception() is not None)
            writes, ops = int(m.value(M_PHYS) - w0), int(m.value(M_OPS) - o0)
            written = int(m.value(M_BYTES) - b0)
        out[mode] = {"patches": len(futures), "logical_ops": ops, "physical_writes": writes,
                     "ops_per_write": round(ops / writes, 2) if writes else None, "written_bytes": written,
                     "failed": failed,
                     "wall_s": round(elapsed, 2)}
    out["agents"] = n_agents
    out["canvases"] = n_canvases
    out["interval_ms"] = [5, 20]
    out["canvas_bytes_total"] = sum(len(raw) for raw, _ in canvases)
    out["write_reduction"] = round(out["unbatched"]["physical_writes"] / max(1, out["batched"]["physical_writes"]), 1)
    return out


def bench_zipf(root: Path, n_ops: int, n_canvases: int, s: float) -> dict:
    """Section 4: Zipf reads over n_canvases, one durable patch per ten reads; cache on vs off."""
    canvases = make_canvases(n_canvases, 10 * KIB, 50 * KIB, seed=5000)
    rng = random.Random(42)
    ranks = list(range(n_canvases))
    rng.shuffle(ranks)  # rank k -> canvas ranks[k]
    weights = [1 / (k + 1) ** s for k in range(n_canvases)]
    trace = []
    for i in range(n_ops):
        c = ranks[rng.choices(range(n_canvases), weights)[0]]
        if i % 11 == 10:
            trace.append(("w", c, update_node_op(rng, rng.choice(canvases[c][1]), i)))
        else:
            trace.append(("r", c, None))
    out: dict = {"ops": n_ops, "reads": sum(1 for t in trace if t[0] == "r"),
                 "writes": sum(1 for t in trace if t[0] == "w"), "canvases": n_canvases, "zipf_s": s,
                 "canvas_kib_range": [10, 50],
                 "canvas_bytes_total": sum(len(raw) for raw, _ in canvases),
                 "distinct_canvases_read": len({c for kind, c, _ in trace if kind == "r"})}
    for mode, cache in (("cached", True), ("uncached", False)):
        paths = []
        for c, (raw, _) in enumerate(canvases):
            path = root / f"zipf-{mode}-{c:03d}.canvas"
            write_aged(path, raw)
            paths.append(path)
        gc.collect()
        read_s = write_s = 0.0
        clock = time.perf_counter
        with CanvasEngine(settings(cache=cache)) as eng:
            m = eng.metrics
            t0 = clock()
            for kind, c, op in trace:
                t = clock()
                if kind == "r":
                    eng.read(paths[c])
                    read_s += clock() - t
                else:
                    fut = eng.submit(paths[c], Patch([op]))
                    eng.flush()
                    fut.result()
                    write_s += clock() - t
            total = clock() - t0
            hits, misses = m.value(M_HITS), m.value(M_MISSES)
            res = {"wall_s": round(total, 3), "ops_per_s": round(n_ops / total),
                   "reads_per_s": round(out["reads"] / read_s), "read_mean_us": round(read_s / out["reads"] * 1e6, 1),
                   "write_mean_ms": round(write_s / out["writes"] * 1000, 2),
                   "physical_writes": int(m.value(M_PHYS))}
            if cache:
                res.update({"hits": int(hits), "misses": int(misses),
                            "hit_rate": round(hits / (hits + misses), 4) if hits + misses else None,
                            "evictions": int(m.value(M_EVICT)), "revalidations": int(m.value(M_REVAL))})
        out[mode] = res
    out["throughput_ratio"] = round(out["cached"]["ops_per_s"] / out["uncached"]["ops_per_s"], 2)
    out["read_throughput_ratio"] = round(out["cached"]["reads_per_s"] / out["uncached"]["reads_per_s"], 1)
    return out


def _histogram(eng: CanvasEngine) -> dict:
    buckets = {}
    for metric in eng.metrics.registry.collect():
        if metric.name != "canvasd_canvas_commit_seconds":
            continue
        for sample in metric.samples:
            if sample.name.endswith("_bucket"):
                buckets[sample.labels["le"]] = int(sample.value)
    return buckets


def bench_commit(root: Path, sizes: dict[str, int]) -> dict:
    """Section 5: submit one patch, flush, wait for the durable result; fsync on."""
    out: dict = {}
    for label, (target, n) in sizes.items():
        raw, ids = make_canvas(target, seed=900 + n)
        path = root / f"commit-{label}.canvas"
        write_aged(path, raw)
        rng = random.Random(9)
        with CanvasEngine(settings()) as eng:
            eng.read(path)  # a client reads the canvas before it edits it

            def commit(eng=eng, path=path, ids=ids, rng=rng) -> None:
                fut = eng.submit(path, Patch([update_node_op(rng, rng.choice(ids), rng.randrange(4))]))
                eng.flush()
                fut.result()

            t0 = time.perf_counter_ns()
            commit()
            first_ms = (time.perf_counter_ns() - t0) / 1e6
            gc.collect()
            ms = []
            for _ in range(n):
                t0 = time.perf_counter_ns()
                commit()
                ms.append((time.perf_counter_ns() - t0) / 1e6)
            writes = int(eng.metrics.value(M_PHYS))
            hist = _histogram(eng)
        out[label] = {"bytes": len(raw), "n": n, "p50_ms": round(statistics.median(ms), 2),
                      "p95_ms": round(pct(ms, 0.95), 2), "max_ms": round(max(ms), 2),
                      "first_commit_ms": round(first_ms, 2), "physical_writes": writes,
                      "commit_seconds_histogram": hist}
        del raw
        gc.collect()
    return out


LEADING_MODES = (("leading", True), ("trailing", False))


def _durable_ms(eng: CanvasEngine, path: Path, op: dict) -> float:
    """Submit one patch and wait until it is durable (no flush): what a PATCH that waits sees."""
    t0 = time.perf_counter_ns()
    eng.apply(path, Patch([op]), timeout=30)
    return (time.perf_counter_ns() - t0) / 1e6


def _one_connection(eng: CanvasEngine, path: Path, ids: list[str], n: int, pause_s: float) -> list[float]:
    """n durable patches one after another from one caller, `pause_s` between them."""
    rng = random.Random(11)
    ms = []
    for i in range(n):
        ms.append(_durable_ms(eng, path, update_node_op(rng, rng.choice(ids), i)))
        time.sleep(pause_s)
    return ms


def _concurrent(eng: CanvasEngine, path: Path, ids: list[str], writers: int, seconds: float) -> dict:
    """`writers` threads each sending a durable patch as soon as its previous one is durable, for `seconds`."""
    m = eng.metrics
    latencies: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(writers + 1)
    stop_at = [0.0]

    def writer(k: int) -> None:
        rng = random.Random(700 + k)
        mine = []
        start.wait()
        i = 0
        while time.perf_counter() < stop_at[0]:
            mine.append(_durable_ms(eng, path, update_node_op(rng, rng.choice(ids), i)))
            i += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(writers)]
    for t in threads:
        t.start()
    w0, r0 = m.value(M_PHYS), m.value("canvasd_canvas_write_requests_total")
    t0 = time.perf_counter()
    stop_at[0] = t0 + seconds
    start.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    writes, requests = int(m.value(M_PHYS) - w0), int(m.value("canvasd_canvas_write_requests_total") - r0)
    return {"writers": writers, "requests": requests, "physical_writes": writes, "wall_s": round(elapsed, 2),
            "requests_per_s": round(requests / elapsed, 1),
            "requests_per_write": round(requests / writes, 1) if writes else None,
            "p50_ms": round(statistics.median(latencies), 2), "p95_ms": round(pct(latencies, 0.95), 2)}


def bench_leading_edge(root: Path, quick: bool) -> dict:
    """Section 6: the batch writer with its leading edge vs trailing only (the earlier behaviour), same window."""
    raw, ids = make_canvas(100 * KIB, seed=60)
    window_s = GROUP_WINDOW_MS / 1000
    n_lone, n_seq, seconds = (10, 10, 1.5) if quick else (30, 20, 4.0)
    out: dict = {"window_ms": GROUP_WINDOW_MS, "canvas_bytes": len(raw)}
    for mode, leading in LEADING_MODES:
        row: dict = {}
        path = root / f"lead-{mode}.canvas"
        write_aged(path, raw)
        with CanvasEngine(settings(leading_edge=leading)) as eng:
            eng.read(path)
            _durable_ms(eng, path, update_node_op(random.Random(1), ids[0], 0))  # first commit builds the structure
            time.sleep(window_s * 1.5)
            lone = _one_connection(eng, path, ids, n_lone, pause_s=window_s * 1.5)
            row["lone"] = {"n": n_lone, "pause_ms": round(window_s * 1500), "p50_ms": round(statistics.median(lone), 2),
                           "p95_ms": round(pct(lone, 0.95), 2)}
            seq = _one_connection(eng, path, ids, n_seq, pause_s=0.0)
            row["back_to_back"] = {"n": n_seq, "p50_ms": round(statistics.median(seq), 2),
                                   "p95_ms": round(pct(seq, 0.95), 2)}
            time.sleep(window_s * 1.5)
            m = eng.metrics
            w0 = m.value(M_PHYS)
            rng = random.Random(61)
            futures = [eng.submit(path, Patch([add_node_op(rng, f"lead{mode}{i:03d}")])) for i in range(100)]
            failed = sum(1 for f in futures if f.exception(timeout=30) is not None)  # the window ends it, no flush
            added = sum(1 for node in eng.read(path).document["nodes"] if node["id"].startswith(f"lead{mode}"))
            row["burst"] = {"patches": 100, "physical_writes": int(m.value(M_PHYS) - w0), "failed": failed,
                            "nodes_added": added}
            time.sleep(window_s * 1.5)
            row["concurrent"] = _concurrent(eng, path, ids, 32, seconds)
        out[mode] = row
    path = root / "lead-short.canvas"
    write_aged(path, raw)
    with CanvasEngine(settings(window_ms=SHORT_WINDOW_MS)) as eng:
        eng.read(path)
        out["leading_short_window"] = {"window_ms": SHORT_WINDOW_MS,
                                       "concurrent": _concurrent(eng, path, ids, 32, seconds)}
    lead, trail = out["leading"]["concurrent"], out["trailing"]["concurrent"]
    out["concurrent_throughput_gain"] = round(lead["requests_per_s"] / trail["requests_per_s"], 2)
    out["lone_p50_gain"] = round(out["trailing"]["lone"]["p50_ms"] / out["leading"]["lone"]["p50_ms"], 1)
    # At most one write per canvas per window caps closed-loop writers on one canvas at `writers` per window.
    out["concurrent_bound_requests_per_s"] = round(32 / window_s, 1)
    short = out["leading_short_window"]["concurrent"]
    out["short_window_throughput_gain"] = round(short["requests_per_s"] / trail["requests_per_s"], 2)
    return out


# ------------------------------------------------------------------------------------------ reporting


def filesystem_of(path: Path) -> str:
    best, fstype = "", "unknown"
    try:
        with open("/proc/mounts") as f:
            for line in f:
                parts = line.split()
                mount = parts[1]
                if os.fspath(path).startswith(mount) and len(mount) > len(best):
                    best, fstype = mount, parts[2]
    except OSError:
        pass
    return fstype


def check(name: str, value: float | None) -> dict:
    t = TARGETS[name]
    ok = value is not None and (value >= t["value"] if t["op"] == ">=" else value <= t["value"])
    return {"name": name, "target": f"{t['op']} {t['value']}", "target_value": t["value"], "op": t["op"],
            "unit": t["unit"], "value": value, "pass": ok}


def verdict(result: dict) -> str:
    return "PASS" if result["pass"] else "MISS"


def print_table(r: dict) -> None:
    p = print
    env = r["env"]
    p(f"canvasd canvas I/O benchmark ({r['mode']} run) - Python {env['python']}, orjson {env['orjson']}, "
      f"{env['cpus']} CPUs (1-min load {env['loadavg_1m_at_start']} at start), temp dir on {env['filesystem']}")
    p(f"mtime: {env['mtime_handling']}")
    p(f"settings: read_cache on, batch_writer window_ms=100 fsync=on, json_engine=orjson unless stated; "
      f"took {r['elapsed_s']} s")
    p("section seconds: " + ", ".join(f"{k} {v}" for k, v in r["section_s"].items()))
    p("")
    p("1. Read one unchanged canvas: engine with read cache (orjson) vs json.loads(open(path,'rb').read())")
    p(f"   {'size':>6} {'bytes':>10} | {'cached med':>10} {'p95':>8} | {'stdlib med':>11} {'p95':>11} | "
      f"{'speedup':>8} | {'engine no-cache med':>19}")
    for label, v in r["cached_read"].items():
        p(f"   {label:>6} {v['bytes']:>10} | {v['cached']['median_us']:>8.1f}us {v['cached']['p95_us']:>6.1f}us | "
          f"{v['stdlib']['median_us']:>9.1f}us {v['stdlib']['p95_us']:>9.1f}us | {v['speedup']:>7.1f}x | "
          f"{v['engine_no_cache_orjson']['median_us']:>17.1f}us")
    p("")
    p("2. Parse the same bytes: orjson.loads vs json.loads (median)")
    p(f"   {'size':>6} | {'orjson':>11} | {'json':>11} | {'ratio':>6}")
    for label, v in r["parse"].items():
        p(f"   {label:>6} | {v['orjson']['median_us']:>9.1f}us | {v['json']['median_us']:>9.1f}us | "
          f"{v['ratio']:>5.1f}x")
    p("")
    b = r["burst"]
    p(f"3a. Burst of {b['batched']['patches']} patches (update_node / add_node alternating) to one "
      f"{b['batched']['canvas_bytes']} B canvas: submit all without waiting, then flush")
    p(f"   {'mode':>10} | {'physical writes':>15} | {'logical ops':>11} | {'bytes written':>13} | {'failed':>6} | "
      f"{'total ms':>9}")
    for mode in ("batched", "unbatched"):
        v = b[mode]
        p(f"   {mode:>10} | {v['physical_writes']:>15} | {v['logical_ops']:>11} | {v['written_bytes']:>13} | "
          f"{v['failed']:>6} | {v['total_ms']:>9.1f}")
    a = r["agent_pace"]
    p("")
    p(f"3b. {a['batched']['patches']} patches (70% update_node, 30% add_node+add_edge) over {a['canvases']} canvases "
      f"of 20-50 KB at agent pace ({a['agents']} agent threads, one patch every 5-20 ms each, not waiting)")
    p(f"   {'mode':>10} | {'physical writes':>15} | {'logical ops':>11} | {'ops/write':>9} | {'bytes written':>13} | "
      f"{'failed':>6} | {'wall s':>6}")
    for mode in ("batched", "unbatched"):
        v = a[mode]
        p(f"   {mode:>10} | {v['physical_writes']:>15} | {v['logical_ops']:>11} | {v['ops_per_write']:>9} | "
          f"{v['written_bytes']:>13} | {v['failed']:>6} | {v['wall_s']:>6}")
    p(f"   write reduction: {a['write_reduction']}x")
    z = r["zipf_trace"]
    p("")
    p(f"4. Zipf trace (s={z['zipf_s']}): {z['ops']} ops = {z['reads']} reads + {z['writes']} durable patches "
      f"over {z['canvases']} canvases of 10-50 KB")
    p("   writes: submit + flush + result (durable, not waiting out the window); hit rate = hits/(hits+misses) from "
      "metrics, cold cache, counts include the read each commit makes")
    p(f"   {'read_cache':>10} | {'ops/s':>7} | {'reads/s':>8} | {'read mean':>10} | {'write mean':>10} | "
      f"{'wall s':>6} | hit rate")
    for mode in ("cached", "uncached"):
        v = z[mode]
        hr = (f"{v['hit_rate']:.2%} ({v['hits']} hits, {v['misses']} misses, {v['evictions']} evictions, "
              f"{v['revalidations']} revalidations)" if mode == "cached" else "-")
        p(f"   {'on' if mode == 'cached' else 'off':>10} | {v['ops_per_s']:>7} | {v['reads_per_s']:>8} | "
          f"{v['read_mean_us']:>8.1f}us | {v['write_mean_ms']:>8.2f}ms | {v['wall_s']:>6.2f} | {hr}")
    p(f"   throughput cache on/off: {z['throughput_ratio']}x overall, {z['read_throughput_ratio']}x for reads")
    p("")
    p("5. Durable commit latency: submit one update_node patch, flush, result (fsync on); the first commit after "
      "the read (builds the lossless structure) is reported apart")
    p(f"   {'size':>6} {'bytes':>10} | {'n':>3} | {'p50':>9} | {'p95':>9} | {'max':>9} | {'first commit':>12}")
    for label, v in r["commit_latency"].items():
        p(f"   {label:>6} {v['bytes']:>10} | {v['n']:>3} | {v['p50_ms']:>7.2f}ms | {v['p95_ms']:>7.2f}ms | "
          f"{v['max_ms']:>7.2f}ms | {v['first_commit_ms']:>10.2f}ms")
    g = r["group_commit"]
    p("")
    p(f"6. Group commit with the leading edge vs trailing only (the earlier behaviour): window_ms={g['window_ms']}, "
      f"fsync on, one {g['canvas_bytes']} B canvas, engine.apply (durable, no flush)")
    p(f"   {'mode':>8} | {'lone p50':>9} {'p95':>9} | {'back-to-back p50':>16} {'p95':>9} | {'burst writes':>12} | "
      f"{'32 writers req/s':>16} {'req/write':>9} {'p50':>9} {'p95':>9}")
    for mode, _ in LEADING_MODES:
        v = g[mode]
        c = v["concurrent"]
        p(f"   {mode:>8} | {v['lone']['p50_ms']:>7.2f}ms {v['lone']['p95_ms']:>7.2f}ms | "
          f"{v['back_to_back']['p50_ms']:>14.2f}ms {v['back_to_back']['p95_ms']:>7.2f}ms | "
          f"{v['burst']['physical_writes']:>12} | {c['requests_per_s']:>16} {c['requests_per_write']!s:>9} "
          f"{c['p50_ms']:>7.2f}ms {c['p95_ms']:>7.2f}ms")
    c = g["leading_short_window"]["concurrent"]
    p(f"   {'leading, window_ms=' + str(g['leading_short_window']['window_ms']) + ' (informative)':>60} | "
      f"{c['requests_per_s']:>16} {c['requests_per_write']!s:>9} {c['p50_ms']:>7.2f}ms {c['p95_ms']:>7.2f}ms "
      f"= {g['short_window_throughput_gain']}x trailing-only at {g['window_ms']} ms")
    p(f"   lone write {g['lone_p50_gain']}x faster; 32 writers {g['concurrent_throughput_gain']}x the throughput "
      f"(one write per window caps 32 closed-loop writers on one canvas at {g['concurrent_bound_requests_per_s']} "
      "req/s); lone = one write, then a pause of 1.5 windows; burst = 100 patches submitted without waiting, "
      "committed by the window")
    p("")
    p("Targets")
    for t in r["targets"]:
        p(f"   {t['name']:<32} {t['target']:<10} {t['unit']:<7} measured {t['value']!s:<10} {verdict(t)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts and sizes up to 1 MB (< 20 s)")
    args = parser.parse_args(argv)
    quick = args.quick
    started = time.perf_counter()
    sizes = dict(SIZES)
    if quick:
        del sizes["10MB"]
    commit_sizes = {"100KB": (100 * KIB, 10), "1MB": (MIB, 10)} if quick else {
        "100KB": (100 * KIB, 30), "1MB": (MIB, 30), "10MB": (10 * MIB, 10)}
    with tempfile.TemporaryDirectory(prefix="canvasd-bench-") as tmp:
        root = Path(tmp)
        env = {"python": platform.python_version(), "orjson": orjson.__version__, "cpus": os.cpu_count(),
               "platform": platform.platform(), "filesystem": filesystem_of(root),
               "canvasd": os.path.dirname(canvasd.__file__),
               "loadavg_1m_at_start": round(os.getloadavg()[0], 2),
               "mtime_handling": f"generated files' mtime set {AGE_NS // 1_000_000_000} s in the past with os.utime "
                                 "(files written by the engine during the run keep their real mtime)"}
        timings: dict[str, float] = {}

        def timed(name, fn, *fn_args):
            t0 = time.perf_counter()
            value = fn(*fn_args)
            timings[name] = round(time.perf_counter() - t0, 1)
            return value

        reads, parses, actual = timed("reads_and_parse", bench_reads, root, sizes, quick)
        burst = timed("burst", bench_burst, root, 100)
        agents = timed("agent_pace", bench_agents, root, 240 if quick else 1000, 3 if quick else 4, 20)
        zipf = timed("zipf_trace", bench_zipf, root, 5000 if quick else 20000, 200, 1.1)
        commits = timed("commit_latency", bench_commit, root, commit_sizes)
        group = timed("group_commit", bench_leading_edge, root, quick)
    targets = [
        check("cached_read_speedup_100KB", reads["100KB"]["speedup"]),
        check("burst_physical_writes_batched", burst["batched"]["physical_writes"]),
        check("zipf_hit_rate", zipf["cached"]["hit_rate"]),
        check("commit_p50_1MB_ms", commits["1MB"]["p50_ms"]),
        check("lone_durable_write_p50_ms", group["leading"]["lone"]["p50_ms"]),
        check("burst_physical_writes_leading", group["leading"]["burst"]["physical_writes"]),
        check("concurrent32_throughput_gain", group["concurrent_throughput_gain"]),
        check("concurrent32_requests_per_write", group["leading"]["concurrent"]["requests_per_write"]),
    ]
    result = {
        "benchmark": "canvas_io", "mode": "quick" if quick else "full", "env": env, "canvas_bytes": actual,
        "cached_read": reads, "parse": parses, "burst": burst, "agent_pace": agents, "zipf_trace": zipf,
        "commit_latency": commits, "group_commit": group, "targets": targets,
        "all_pass": all(t["pass"] for t in targets),
        "elapsed_s": round(time.perf_counter() - started, 1), "section_s": timings,
    }
    print_table(result)
    print(json.dumps(result, ensure_ascii=False, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
