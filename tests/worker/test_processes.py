"""``emc worker --processes N``: N worker processes in one consumer group on one machine."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from bench.procs import EMC, worker_env
from streams.core.errors import ConfigError
from streams.kafka.broker import free_port
from streams.kafka.produce import EventProducer
from streams.settings import Settings
from streams.worker.processes import child_environments
from tests.integration.fixtures import FAST_GROUP, TEST_NATIONAL_TOKEN, wait_committed
from tests.integration.test_faults import assert_exact, produce, stream


def test_each_child_gets_its_own_data_dir_and_port(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        clickhouse={"dsn": "http://127.0.0.1:8123"},  # type: ignore[arg-type]
        web={"port": 7000},  # type: ignore[arg-type]
    )
    envs = child_environments(settings, 3)
    assert [e["EMC_DATA_DIR"] for e in envs] == [str(tmp_path / f"worker-{i}") for i in range(3)]
    assert [e["EMC_WEB__PORT"] for e in envs] == ["7000", "7001", "7002"]
    assert {e["EMC_WEB__TOKENS_FILE"] for e in envs} == {str(tmp_path / "web_tokens.json")}


def test_several_processes_refuse_the_embedded_engine(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert len(child_environments(settings, 1)) == 1
    with pytest.raises(ConfigError, match="need a ClickHouse server"):
        child_environments(settings, 2)
    with pytest.raises(ConfigError, match="at least 1"):
        child_environments(settings, 0)


def _progress(port: int) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/emc/progress",
        headers={"Authorization": f"Bearer {TEST_NATIONAL_TOKEN}"},
    )
    with urllib.request.urlopen(request, timeout=5) as resp:
        return dict(json.loads(resp.read()))


@pytest.mark.integration
def test_two_processes_share_the_partitions_and_stay_exact(
    broker_factory, clickhouse_factory, tmp_path: Path
) -> None:
    broker = broker_factory(partitions=4)
    clickhouse = clickhouse_factory()
    port = free_port()
    env = worker_env(
        broker.bootstrap_servers, tmp_path / "data", "emc-test", port,
        EMC_WEB__TOKENS=f"national={TEST_NATIONAL_TOKEN}",
        EMC_CLICKHOUSE__DSN=clickhouse.dsn,
        EMC_STREAM__BATCH_WITHIN_S="0.2",
        **FAST_GROUP,
    )  # fmt: skip
    log = (tmp_path / "workers.log").open("ab")
    parent = subprocess.Popen(
        [*EMC, "worker", "--processes", "2"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 90
        assigned: dict[int, int] = {}
        while len([n for n in assigned.values() if n]) < 2:  # the group split the partitions
            assert parent.poll() is None, (tmp_path / "workers.log").read_text()[-3000:]
            assert time.monotonic() < deadline, (tmp_path / "workers.log").read_text()[-3000:]
            for p in (port, port + 1):
                with contextlib.suppress(OSError):  # not listening yet
                    assigned[p] = len(_progress(p)["assigned"])
            time.sleep(0.5)
        events = stream(4000, seed=21)
        producer = EventProducer(broker.bootstrap_servers)
        produce(producer, events)
        wait_committed(broker.bootstrap_servers, "emc-test", producer.last_offsets)
        accepted = [_progress(p)["accepted"] for p in (port, port + 1)]
        assert all(n > 0 for n in accepted), accepted  # both children carried events
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=60) == 0
        assert_exact(env, events)
    finally:
        if parent.poll() is None:
            parent.kill()
        log.close()
