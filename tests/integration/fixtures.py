"""Fixtures for integration tests: a real tansu broker and real `emc worker` processes on chdb.

Each test gets its own broker (so its own topics) and its own data directory (so its own
ClickHouse engine). ClickHouse is read with `emc query` in a child process once the worker has
stopped: chdb allows one data path per process.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bench.procs import ClickHouseServer, worker_env
from streams.kafka.broker import EmbeddedBroker, free_port
from streams.kafka.topics import ensure_topics

EMC = [sys.executable, "-m", "streams.cli"]
TEST_NATIONAL_TOKEN = "emc-test-national-token"
"""A national token every test worker accepts (EMC_WEB__TOKENS); the web server needs one."""


@dataclass
class WorkerProcess:
    """An `emc worker` child process and how to talk to it."""

    proc: subprocess.Popen[bytes]
    env: dict[str, str]
    web_port: int
    log_path: Path

    def progress(self) -> dict[str, Any]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.web_port}/emc/progress",
            headers={"Authorization": f"Bearer {TEST_NATIONAL_TOKEN}"},
        )
        with urllib.request.urlopen(request, timeout=2) as resp:
            return json.loads(resp.read())  # type: ignore[no-any-return]

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited early:\n{self.log()}")
            try:
                self.progress()
                return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"worker not ready in {timeout_s} s:\n{self.log()}")

    def wait_consumed(self, n: int, timeout_s: float = 90.0) -> dict[str, Any]:
        """Wait until the worker has processed at least ``n`` messages (and a little longer)."""
        deadline = time.monotonic() + timeout_s
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited:\n{self.log()}")
            try:
                last = self.progress()
            except OSError:
                last = {}
            if last.get("consumed", 0) >= n:
                return last
            time.sleep(0.2)
        raise AssertionError(f"worker consumed {last} of {n} in {timeout_s} s:\n{self.log()}")

    def alive(self) -> None:
        """Raise if the worker process has exited."""
        if self.proc.poll() is not None:
            raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise AssertionError(f"worker did not stop on {sig}:\n{self.log()}") from None
        return self.proc.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]


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
            time.sleep(0.5)
    finally:
        consumer.close()
    raise AssertionError(f"group {group_id} still behind after {timeout_s} s: {behind}")


def query_json(env: dict[str, str], sql: str) -> list[dict[str, Any]]:
    """Rows of ``sql`` as dicts, run by `emc query` in a child process with ``env``."""
    out = subprocess.run(
        [*EMC, "query", sql, "--format", "json"],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    if out.returncode != 0:
        raise AssertionError(f"emc query failed: {out.stderr.decode()}")
    return [json.loads(line) for line in out.stdout.decode().splitlines() if line.strip()]


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


@pytest.fixture
def worker_factory(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start `emc worker` child processes; any still running are killed after the test."""
    started: list[WorkerProcess] = []

    def make(
        broker: EmbeddedBroker,
        data_dir: Path | None = None,
        group_id: str = "emc-test",
        **env_overrides: str,
    ) -> WorkerProcess:
        data = data_dir or tmp_path / "data"
        data.mkdir(parents=True, exist_ok=True)
        port = free_port()
        env = worker_env(
            broker.bootstrap_servers,
            data,
            group_id,
            port,
            **{
                "EMC_STREAM__BATCH_WITHIN_S": "0.2",
                "EMC_WEB__TOKENS": f"national={TEST_NATIONAL_TOKEN}",
                **env_overrides,
            },
        )
        log_path = data / f"worker-{len(started)}.log"
        proc = subprocess.Popen(
            [*EMC, "worker"],
            env=env,
            stdout=log_path.open("ab"),
            stderr=subprocess.STDOUT,
        )
        worker = WorkerProcess(proc=proc, env=env, web_port=port, log_path=log_path)
        started.append(worker)
        worker.wait_ready()
        return worker

    yield make
    for worker in started:
        if worker.proc.poll() is None:
            worker.proc.kill()
            worker.proc.wait(10)
