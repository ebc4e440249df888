"""Stage timings of the worker (streams/worker/timings.py)."""

from __future__ import annotations

import time

import pytest

from streams.worker.timings import STAGES, StageTimes


def test_stages_add_wall_and_cpu_per_batch() -> None:
    times = StageTimes()
    with times.timing("process"):
        start = time.thread_time()
        while time.thread_time() - start < 0.03:  # busy: 30 ms of this thread's CPU
            pass
    with times.timing("clickhouse"):
        time.sleep(0.05)  # idle: wall time only
    times.add("waiting", 0.25)
    got = times.as_dict()
    assert list(got) == list(STAGES)
    assert got["process"]["batches"] == 1 and got["process"]["seconds"] >= 0.03
    assert got["process"]["cpu_seconds"] >= 0.03
    assert got["clickhouse"]["seconds"] >= 0.05 and got["clickhouse"]["cpu_seconds"] < 0.03
    assert got["waiting"] == {"seconds": 0.25, "cpu_seconds": 0.0, "batches": 1}
    assert got["release"] == {"seconds": 0.0, "cpu_seconds": 0.0, "batches": 0}


def test_a_failing_stage_is_still_timed() -> None:
    times = StageTimes()
    with pytest.raises(RuntimeError), times.timing("process"):
        raise RuntimeError("batch failed")
    assert times.as_dict()["process"]["batches"] == 1
