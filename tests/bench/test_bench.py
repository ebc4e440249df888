"""Smoke test of `emc bench` on a tiny stream: the JSON has its figures and they add up.

No timing thresholds: the figures depend on the machine and its load."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_bench_quick_json(tmp_path: Path) -> None:
    output = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, "-m", "streams.cli", "bench", "--events", "2000", "--encoding", "json",
         "--no-peer", "--latency-s", "3", "--output", str(output),
         "--worker-env", "EMC_STREAM__BATCH_MAX_EVENTS=500"],
        capture_output=True, timeout=280, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr.decode(errors="replace")[-3000:]
    results = json.loads(output.read_text())

    assert results["peer_skipped"] == "--no-peer"
    run_json = results["throughput"]["json"]
    workload, worker = run_json["workload"], run_json["worker"]
    assert workload["events"] == 2000
    assert set(workload["by_type"]) == {"received", "processed", "result_returned", "feedback"}
    assert sum(workload["by_type"].values()) == 2000
    assert worker["events_per_s"] > 0
    assert worker["cpu_s_per_million"] is None or worker["cpu_s_per_million"] >= 0
    assert worker["peak_rss_mb"] > 0
    assert worker["consumed"] == 2000
    assert worker["duplicates"] == workload["duplicates"]
    assert worker["accepted"] + worker["duplicates"] + worker["dead_letters"] == 2000
    assert worker["clickhouse"]["events"] == worker["accepted"]
    assert worker["clickhouse"]["rollup_rows"] > 0
    # --worker-env reached the worker: batches of at most 500 events, each timed per stage.
    assert results["settings"]["worker_env"] == {"EMC_STREAM__BATCH_MAX_EVENTS": "500"}
    assert worker["batches"] >= 2000 // 500
    stages = worker["stage_seconds"]
    assert set(stages) == {
        f"{stage}{suffix}"
        for stage in ("waiting", "process", "commit_state", "clickhouse", "release")
        for suffix in ("", "_cpu")
    }
    assert stages["process"] > 0 and stages["clickhouse"] > 0
    ceiling = run_json["ceiling"]
    assert ceiling["messages"] == 2000
    assert ceiling["decode_errors"] == 0
    assert ceiling["units"] == workload["units"]
    consume_only = run_json["ceiling_consume"]
    assert consume_only["mode"] == "consume" and consume_only["messages"] == 2000
    assert consume_only["value_bytes"] > 2000 * 50  # every message's value was read
    assert run_json["faust_floor"]["messages"] == 2000
    assert run_json["core"]["messages"] == 2000
    assert run_json["core"]["accepted"] == worker["accepted"]

    latency = results["latency"]
    assert latency["events_sent"] > 0
    assert 0 < latency["events_stored"] <= latency["events_sent"]
    for key in ("live_table_s", "clickhouse_visible_s"):
        assert set(latency[key]) == {"p50", "p99", "max"}
        assert latency[key]["p50"] is not None
        assert latency[key]["p50"] <= latency[key]["p99"] <= latency[key]["max"]
