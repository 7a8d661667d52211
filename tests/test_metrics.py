"""Reading metrics (metrics.py): through their objects in canvasd, by name in tests, and a typo is an error."""

from __future__ import annotations

import pytest

from canvasd.metrics import Metrics, read


def test_read_takes_a_series_or_sums_them_and_refuses_wrong_label_names() -> None:
    metrics = Metrics()
    assert read(metrics.read_cache_hits) == 0
    metrics.read_cache_hits.inc(3)
    metrics.read_cache_entries.set(7)
    assert read(metrics.read_cache_hits) == 3 and read(metrics.read_cache_entries) == 7
    metrics.fallback("json_engine")
    metrics.fallback("read_cache")
    metrics.fallback("read_cache")
    assert read(metrics.optimization_fallbacks, optimization="read_cache") == 2
    assert read(metrics.optimization_fallbacks, optimization="batch_writer") == 0  # not counted yet
    assert read(metrics.optimization_fallbacks) == 3  # every series
    with pytest.raises(ValueError, match="label names"):
        read(metrics.optimization_fallbacks, optimisation="read_cache")
    with pytest.raises(ValueError):
        read(metrics.read_cache_hits, optimization="read_cache")  # it has no labels


def test_value_by_name_refuses_a_name_no_metric_exposes() -> None:
    metrics = Metrics()
    metrics.job_seconds.labels("index").observe(0.5)
    assert metrics.value("canvasd_job_seconds_count", kind="index") == 1
    assert metrics.value("canvasd_job_seconds_count", kind="search") == 0  # a series not counted yet
    assert metrics.value("canvasd_canvas_write_failures_total") == 0
    for misspelt in ("canvasd_write_failures_total", "canvasd_canvas_write_failures", "canvasd_job_seconds_total"):
        with pytest.raises(KeyError):
            metrics.value(misspelt)
