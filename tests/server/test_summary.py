"""The metrics summary and alerts (server/summary.py) of a real daemon: what each counter really counted, and
alerts that fire on a real problem, not on the misses every fresh daemon has to make."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from canvasd.config import Settings
from canvasd.jobs.scheduler import RECENT_JOBS
from canvasd.metrics import Metrics
from canvasd.server.summary import RequestWindow, SummaryBuilder
from tests.support.canvas_factory import obsidian
from tests.support.daemon import DaemonProcess, running_daemon

DOC = {"nodes": [{"id": "a", "type": "text", "text": "极限 limit", "x": 0, "y": 0, "width": 200, "height": 60}],
       "edges": []}


def _alerts(daemon: DaemonProcess) -> dict[str, dict[str, Any]]:
    return {alert["name"]: alert for alert in daemon.get_json("/v1/metrics/alerts")["alerts"]}


def test_a_json_engine_fallback_is_counted_in_the_summary(daemon: DaemonProcess) -> None:
    # a lone surrogate escape is valid JSON that orjson refuses: the codec serves it by the plain parser
    odd = {"nodes": [{**DOC["nodes"][0], "text": "\ud800"}], "edges": []}
    (daemon.vault / "odd.canvas").write_text(json.dumps(odd))
    got = daemon.client.get(daemon.url("v", "odd.canvas"))
    assert got.status_code == 200 and json.loads(got.content) == odd
    counted = daemon.metric('canvasd_optimization_fallbacks_total{optimization="json_engine"}')
    assert counted >= 1
    json_engine = daemon.get_json("/v1/metrics/summary")["optimizations"]["json_engine"]
    assert json_engine["saved"]["fallbacks"] == counted


def test_a_write_the_file_system_refuses_is_counted_as_a_write_failure(tmp_path: Path) -> None:
    # RLIMIT_FSIZE: the kernel refuses (EFBIG) any write past 1 MiB, for root too (chmod does not stop root)
    with running_daemon(tmp_path / "d", fsize=1 << 20) as daemon:
        url = daemon.url("v", "c.canvas")
        assert daemon.client.put(url, json=DOC).status_code == 201
        before = (daemon.vault / "c.canvas").read_bytes()
        huge = {"nodes": [{**DOC["nodes"][0], "text": "x" * (2 << 20)}], "edges": []}
        refused = daemon.client.put(url, json=huge)
        assert refused.status_code == 500, refused.text
        error = refused.json()["error"]
        assert error["code"] == "write_failed" and "nothing on disk was changed" in error["message"]
        assert (daemon.vault / "c.canvas").read_bytes() == before
        assert sorted(p.name for p in daemon.vault.iterdir()) == ["c.canvas"]  # no temp file left
        assert daemon.metric("canvasd_canvas_write_failures_total") == 1
        assert daemon.get_json("/v1/metrics/summary")["writes"]["failures"] == 1


def test_the_job_p95_alert_needs_min_requests_finished_jobs(tmp_path: Path) -> None:
    # every job is slower than the threshold, but the history never holds min_requests jobs: no alert
    config = {"alerts": {"job_p95_s": 1e-9, "min_requests": RECENT_JOBS + 1},
              "jobs": {"metrics_snapshot_interval_s": 0.05}}
    with running_daemon(tmp_path / "d", config=config) as daemon:
        daemon.wait_for(lambda: len(daemon.get_json("/v1/jobs")["recent"]) >= 3, "three finished jobs")
        assert daemon.get_json("/v1/metrics/summary")["jobs"]["p95_s"] > 1e-9
        assert "job_p95" not in _alerts(daemon)


def test_the_job_p95_alert_counts_only_jobs_that_ran() -> None:
    settings = Settings.model_validate({"alerts": {"job_p95_s": 1.0, "min_requests": 20}})
    builder = SummaryBuilder(settings, Metrics(), RequestWindow())
    assert builder.alerts(job_p95=30.0, job_count=1)["alerts"] == []  # one slow job is no trend
    assert builder.alerts(job_p95=30.0, job_count=19)["alerts"] == []
    fired = builder.alerts(job_p95=30.0, job_count=20)["alerts"]
    assert [alert["name"] for alert in fired] == ["job_p95"] and fired[0]["value"] == 30.0
    assert builder.alerts(job_p95=0.5, job_count=100)["alerts"] == []


def test_a_fresh_daemon_reading_each_canvas_once_raises_no_cache_alert(tmp_path: Path) -> None:
    canvases = 8
    daemon = DaemonProcess(tmp_path / "d", config={"alerts": {"min_requests": 5}})
    try:
        for i in range(canvases):
            (daemon.vault / f"c{i}.canvas").write_text(obsidian(DOC))
        daemon.start()
        for i in range(canvases):
            assert daemon.client.get(daemon.url("v", f"c{i}.canvas")).status_code == 200
        assert "cache_hit_rate" not in _alerts(daemon)
        cache = daemon.get_json("/v1/metrics/summary")["cache"]
        # every miss was a canvas's first read since the start: no cache could have served it
        assert cache["misses"] == cache["cold_misses"] >= 1
        assert cache["hits"] + cache["misses"] >= canvases >= 5
    finally:
        daemon.close()


def test_a_read_cache_too_small_for_the_reads_still_raises_the_alert(tmp_path: Path) -> None:
    config = {"alerts": {"min_requests": 5}, "read_cache": {"max_entries": 1}}
    with running_daemon(tmp_path / "d", config=config) as daemon:
        for name in ("a", "b"):
            (daemon.vault / f"{name}.canvas").write_text(obsidian(DOC))
        for _ in range(6):  # each read evicts the other canvas: every repeat read misses
            for name in ("a", "b"):
                assert daemon.client.get(daemon.url("v", f"{name}.canvas")).status_code == 200
        cache = daemon.get_json("/v1/metrics/summary")["cache"]
        assert cache["misses"] - cache["cold_misses"] >= 10
        alert = _alerts(daemon)["cache_hit_rate"]
        assert alert["value"] < alert["threshold"] == 0.8
