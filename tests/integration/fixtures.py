"""Fixtures for integration tests: a real tansu broker and real `emc worker` processes on chdb.

Each test gets its own broker (so its own topics) and its own data directory (so its own
ClickHouse engine). ClickHouse is read with `emc query` (run in this process: :func:`query_json`)
once the worker has stopped: chdb allows one data path per process at a time. The worker and
ClickHouse processes are the bench's harness (bench/procs.py: WorkerProcess, ClickHouseServer).
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from bench.procs import EMC, ClickHouseServer, WorkerProcess  # noqa: F401 (EMC: re-exported)
from streams.kafka.broker import EmbeddedBroker
from streams.kafka.topics import ensure_topics

TEST_NATIONAL_TOKEN = "emc-test-national-token"
"""A national token every test worker accepts (EMC_WEB__TOKENS); the web server needs one."""

FAST_GROUP = {"EMC_KAFKA__SESSION_TIMEOUT_S": "3"}
"""The test workers' consumer-group session timeout (the bench's is 6 s). tansu's joins and
rebalances take about half of it, and a SIGKILLed member is gone only after it: 3 s saves ~2 s
per worker start and ~5 s per restart after a kill. Heartbeats (every 0.5 s) come from
librdkafka's own thread, so a busy worker is not taken for a dead one."""


def wait_committed(
    bootstrap: str,
    group_id: str,
    last_offsets: dict[tuple[str, int], int],
    timeout_s: float = 120.0,
    check: Callable[[], None] | None = None,
) -> None:
    """Wait until ``group_id`` has committed past every offset in ``last_offsets``.

    Committed offsets are exact on tansu (only end offsets are wrong), and the worker commits
    a batch only after ClickHouse accepted it: this is "everything produced is in ClickHouse".
    ``check`` runs on each poll (e.g. to fail fast when the worker died).
    """
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group_id, "enable.auto.commit": False}
    )
    wanted = [TopicPartition(t, p) for (t, p) in last_offsets]
    deadline = time.monotonic() + timeout_s
    behind: list[str] = []
    try:
        while time.monotonic() < deadline:
            if check is not None:
                check()
            committed = consumer.committed(wanted, timeout=10)
            behind = [
                f"{tp.topic}[{tp.partition}] at {tp.offset}"
                for tp in committed
                if tp.offset < last_offsets[(tp.topic, tp.partition)] + 1
            ]
            if not behind:
                return
            time.sleep(0.2)
    finally:
        consumer.close()
    raise AssertionError(f"group {group_id} still behind after {timeout_s} s: {behind}")


@contextlib.contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """This process's environment is exactly ``env`` inside the block (then restored)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def emc_here(env: dict[str, str], *args: str) -> Result:
    """``emc ARGS`` run in this process (click's runner, the environment swapped for ``env``)
    rather than in a child: the same command code and output without a Python start-up and
    its imports (~1.5 s a call). For commands that close their ClickHouse client when done
    (query, reconcile): chdb serves one data path per process at a time, so the next one (or a
    child worker on this path) can open it afterwards."""
    from click.testing import CliRunner

    from streams.cli.main import main

    with environment(env):
        return CliRunner().invoke(main, list(args), catch_exceptions=False)


def query_json(env: dict[str, str], sql: str) -> list[dict[str, Any]]:
    """Rows of ``sql`` as dicts: what `emc query SQL --format json` prints with ``env``
    (:func:`emc_here`)."""
    done = emc_here(env, "query", sql, "--format", "json")
    if done.exit_code != 0:
        raise AssertionError(f"emc query failed: {done.stderr or done.output}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


@pytest.fixture
def broker_factory() -> Iterator[Callable[..., EmbeddedBroker]]:
    """Start tansu brokers (with the project's topics); all are stopped after the test."""
    started: list[EmbeddedBroker] = []

    def make(partitions: int = 4) -> EmbeddedBroker:
        broker = EmbeddedBroker().start()
        started.append(broker)
        ensure_topics(broker.bootstrap_servers, partitions)
        return broker

    yield make
    gc.collect()  # the test's clients, if only garbage now, go before their broker does
    for broker in started:
        broker.stop()


@pytest.fixture
def clickhouse_factory(tmp_path: Path) -> Iterator[Callable[[], ClickHouseServer]]:
    """Start ClickHouse endpoints shared by several workers; all are killed after the test."""
    started: list[ClickHouseServer] = []

    def make() -> ClickHouseServer:
        server = ClickHouseServer(tmp_path / f"clickhouse-{len(started)}", fresh=False)
        started.append(server.start())
        return server

    yield make
    for server in started:
        server.kill()


class Workers:
    """`emc worker` child processes of a test (or of a module's shared fixture), started with
    the test workers' settings; :meth:`kill` SIGKILLs those still running."""

    def __init__(self, default_data_dir: Path) -> None:
        self.default_data_dir = default_data_dir
        self.started: list[WorkerProcess] = []

    def start(
        self,
        broker: EmbeddedBroker,
        data_dir: Path | None = None,
        group_id: str = "emc-test",
        *,
        wait: bool = True,
        **env_overrides: str,
    ) -> WorkerProcess:
        """A worker on ``broker``; ready (the web server answers) unless ``wait`` is false."""
        worker = WorkerProcess.start(
            broker.bootstrap_servers,
            data_dir or self.default_data_dir,
            group_id,
            token=TEST_NATIONAL_TOKEN,
            log_name=f"worker-{len(self.started)}.log",
            **{**FAST_GROUP, "EMC_STREAM__BATCH_WITHIN_S": "0.2", **env_overrides},
        )
        self.started.append(worker)
        if wait:
            worker.wait_ready(timeout_s=60.0)
        return worker

    def kill(self) -> None:
        for worker in self.started:
            worker.kill()


@pytest.fixture
def worker_factory(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start `emc worker` child processes (:meth:`Workers.start`); any still running are
    killed after the test."""
    workers = Workers(tmp_path / "data")
    yield workers.start
    workers.kill()
