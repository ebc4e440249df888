"""The measured phases of ``emc bench``; each starts its own tansu broker and data directories.

What is measured, exactly:

- **Sustained throughput** (:func:`throughput_phase`): the stream is produced to the topics
  first; then the worker(s) start. The clock starts when the first batch began processing
  (``first_batch_at_ms`` of ``/emc/progress``, polled every 0.1 s until every lifecycle
  partition is assigned and some events are consumed; all events count),
  and stops when the consumer group's committed offsets pass the last produced offset of every
  partition. The worker commits a batch only after ClickHouse accepted its rows, so that instant
  is "the last rollup is visible in ClickHouse" (an upper bound by the 0.1 s poll: the worker
  commits right after each batch). Throughput = events consumed in between / elapsed.
- **CPU seconds per million events**: utime + stime of the worker process(es) from that first
  successful poll to the end (``/proc/<pid>/stat``), per million events consumed in that span.
- **Peak RSS**: ``VmHWM`` of the worker process at the end (``/proc/<pid>/status``).
- **Latency at a steady rate** (:func:`latency_phase`): a warm worker; the bench produces
  simulated lifecycles (event time = now) paced at ``rate`` events/s and stamps each message's
  produce time (``time.time()`` just before ``produce()``), keyed by its (topic, partition,
  offset) from the delivery report. *Live-table latency* of an event = ``ingested_at`` of its
  row in ``emc.dossier_events`` (the wall clock the worker took when it began processing the
  batch; its in-memory windows reflect the event when that ``process()`` call returns, a few ms
  later) − produce time. *ClickHouse visibility latency* = the first poll (every 0.1 s) at
  which the group's committed offset passed the message − produce time: an upper bound, since
  the rows were inserted before the commit. Duplicates (not stored) are not in either figure.
- **Ceiling**, **Faust floor** and **peer**: child processes reading the same topics afresh
  (:mod:`.ceiling`: bare consumer, consume only and consume + decode; :mod:`.faust_floor`: a
  Faust agent on the topics with an empty ``take_events`` body; :mod:`.core`: the pipeline on
  plain dicts, no Faust/Kafka/ClickHouse; :mod:`.peer`: Quix Streams; :mod:`.peer_bytewax`:
  Bytewax). Each times its first message (or batch, or for Bytewax the dataflow's start) to its
  last; the worker's figure also includes the last ClickHouse insert and commit.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.procs import (
    REPO_ROOT,
    BenchError,
    ClickHouseServer,
    CommitWatcher,
    ProcSample,
    Profiler,
    WorkerProcess,
    checkout_env,
    proc_sample,
    query_json,
)
from bench.workload import Workload, create_topics, produce_all
from streams.core.events import LIFECYCLE_TOPICS, TOPIC_BY_TYPE, EventType
from streams.kafka.broker import EmbeddedBroker, free_port

Say = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def _mb(n: int) -> float:
    return round(n / 2**20, 1)


def throughput_phase(
    workdir: Path,
    workload: Workload,
    *,
    partitions: int = 4,
    workers: int = 1,
    worker_env: dict[str, str] | None = None,
    profile_to: Path | None = None,
    py_spy: str | None = None,
    timeout_s: float = 1800.0,
    check_clickhouse: bool = True,
    clickhouse_server: bool = False,
    say: Say = _quiet,
) -> dict[str, Any]:
    """Pre-produce ``workload``, run ``workers`` worker processes over it; figures as a dict.

    ``clickhouse_server``: the workers write to one ClickHouse engine in a process of its own
    (HTTP, as to a server) instead of each embedding one; its peak RSS is reported apart."""
    workdir.mkdir(parents=True, exist_ok=True)
    server = ClickHouseServer(workdir / "clickhouse").start() if clickhouse_server else None
    if server is not None:
        worker_env = {**(worker_env or {}), "EMC_CLICKHOUSE__DSN": server.dsn}
    try:
        figures = _throughput_on_broker(
            workdir, workload, partitions, workers, worker_env, profile_to, py_spy, timeout_s,
            say,
        )  # fmt: skip
        if check_clickhouse:
            say("  reading ClickHouse")
            envs = figures.pop("_envs")
            # One shared server holds every worker's rows: ask it once.
            figures["clickhouse"] = _clickhouse_counts(envs[:1] if server is not None else envs)
        if server is not None and server.proc is not None:
            figures["clickhouse_server_peak_rss_mb"] = _mb(
                proc_sample(server.proc.pid).peak_rss_bytes
            )
    finally:
        if server is not None:
            server.stop()
    figures.pop("_envs", None)
    shutil.rmtree(workdir, ignore_errors=True)
    return figures


def _throughput_on_broker(
    workdir: Path,
    workload: Workload,
    partitions: int,
    workers: int,
    worker_env: dict[str, str] | None,
    profile_to: Path | None,
    py_spy: str | None,
    timeout_s: float,
    say: Say,
) -> dict[str, Any]:
    n = len(workload.messages)
    with EmbeddedBroker(log_path=workdir / "tansu.log") as broker:
        bootstrap = broker.bootstrap_servers
        create_topics(bootstrap, partitions)
        started = time.monotonic()
        last_offsets = produce_all(bootstrap, workload.messages)
        produce_s = time.monotonic() - started
        say(f"  produced {n:,} messages in {produce_s:.1f} s; starting {workers} worker(s)")
        group = "emc-bench"
        procs: list[WorkerProcess] = []
        try:
            for i in range(workers):
                procs.append(
                    WorkerProcess.start(
                        bootstrap, workdir / f"worker-{i}", group,
                        EMC_KAFKA__PARTITIONS=str(partitions), **(worker_env or {}),
                    )
                )  # fmt: skip
            watcher = CommitWatcher(bootstrap, group)
            profile = (profile_to, py_spy) if profile_to and py_spy else None
            try:
                figures = _measure_run(
                    procs, watcher, last_offsets, n, partitions, timeout_s, profile
                )
            finally:
                watcher.close()
            say(f"  all committed after {figures['elapsed_s']} s of measurement; stopping")
            progress = [_final_progress(w) for w in procs]
            samples = [w.sample() for w in procs]
            stages = _stage_seconds(progress)
            if stages:
                for name in [k for k in stages if not k.endswith("_cpu")]:
                    cpu = stages[f"{name}_cpu"]
                    say(f"  worker stage {name}: {stages[name]} s wall, {cpu} s CPU")
        finally:
            for w in procs:
                w.stop(strict=False)
    figures.update(
        events=n,
        workers=workers,
        partitions=partitions,
        produce_s=round(produce_s, 2),
        peak_rss_mb=max(_mb(s.peak_rss_bytes) for s in samples),
        peak_rss_mb_each=[_mb(s.peak_rss_bytes) for s in samples],
        consumed=sum(p.get("consumed", 0) for p in progress),
        accepted=sum(p.get("accepted", 0) for p in progress),
        duplicates=sum(p.get("duplicates", 0) for p in progress),
        late=sum(p.get("late", 0) for p in progress),
        dead_letters=sum(sum(p.get("dead_letters", {}).values()) for p in progress),
        batches=sum(p.get("batches", 0) for p in progress),
        stage_seconds=stages,
        _envs=[w.env for w in procs],
    )
    return figures


def _measure_run(
    procs: list[WorkerProcess],
    watcher: CommitWatcher,
    last_offsets: dict[tuple[str, int], int],
    n: int,
    partitions: int,
    timeout_s: float,
    profile: tuple[Path, str] | None = None,
) -> dict[str, Any]:
    wanted_assigned = partitions * len(LIFECYCLE_TOPICS)
    deadline = time.monotonic() + timeout_s
    t_start = 0.0
    consumed_at_start = consumed_at_cpu = 0
    cpu_at_start: list[ProcSample] = []
    threads_at_start: dict[str, float] = {}
    cpu_at_time = 0.0
    profiler: Profiler | None = None
    while time.monotonic() < deadline:
        for w in procs:
            w.alive()
        try:
            progress = [w.progress() for w in procs]
        except OSError:
            time.sleep(0.1)
            continue
        assigned = sum(len(p.get("assigned", [])) for p in progress)
        consumed = sum(p.get("consumed", 0) for p in progress)
        if assigned >= wanted_assigned and consumed > 0:
            t_start = time.time()
            consumed_at_cpu = consumed_at_start = consumed
            firsts = [p.get("first_batch_at_ms", 0) for p in progress if p.get("consumed")]
            if firsts and all(firsts):
                # Start when the first batch began (the web server answers between batches,
                # so this poll may come several batches late), and count every event.
                t_start = min(firsts) / 1000
                consumed_at_start = 0
            cpu_at_start = [w.sample() for w in procs]
            cpu_at_time = time.time()
            threads_at_start = procs[0].thread_cpu()
            if profile is not None:
                profiler = Profiler(profile[1], procs[0].pid, profile[0])
            break
        time.sleep(0.1)
    if not t_start:
        raise BenchError("the workers never started consuming")

    def check() -> None:
        for w in procs:
            w.alive()

    try:
        t_end = watcher.wait_past(
            last_offsets, max(1.0, deadline - time.monotonic()), poll_s=0.1, check=check
        )
    finally:
        if profiler is not None:
            profiler.stop()
    cpu_at_end = [w.sample() for w in procs]
    threads_at_end = procs[0].thread_cpu()
    elapsed = t_end - t_start
    by_thread = {
        name: round(cpu - threads_at_start.get(name, 0.0), 2)
        for name, cpu in sorted(threads_at_end.items(), key=lambda kv: -kv[1])
    }
    measured = n - consumed_at_start
    cpu = sum(e.cpu_s - s.cpu_s for s, e in zip(cpu_at_start, cpu_at_end, strict=True))
    cpu_span = t_end - cpu_at_time
    return {
        "elapsed_s": round(elapsed, 2),
        "events_measured": measured,
        "events_per_s": round(measured / elapsed, 1) if elapsed > 0 else None,
        "cpu_s": round(cpu, 2),
        "cpu_s_per_million": round(cpu / (n - consumed_at_cpu) * 1e6, 1)
        if n > consumed_at_cpu
        else None,
        "cpu_utilisation": round(cpu / cpu_span, 2) if cpu_span > 0 else None,
        "cpu_s_by_thread": {k: v for k, v in by_thread.items() if v >= 0.05},
    }


def _stage_seconds(progress: list[dict[str, Any]]) -> dict[str, float]:
    """Seconds per worker stage (``stage_seconds`` of ``/emc/progress``), summed over the
    workers (streams/worker/timings.py says what each stage covers)."""
    total: dict[str, float] = {}
    for p in progress:
        for stage, figures in p.get("stage_seconds", {}).items():
            for name, key in ((stage, "seconds"), (f"{stage}_cpu", "cpu_seconds")):
                total[name] = round(total.get(name, 0.0) + figures.get(key, 0.0), 3)
    return total


def _final_progress(worker: WorkerProcess) -> dict[str, Any]:
    try:
        return worker.progress()
    except OSError:
        return {}


def _clickhouse_counts(envs: list[dict[str, str]]) -> dict[str, Any]:
    """Rows each worker's ClickHouse holds (read by `emc query` once the workers stopped)."""
    events = rollups = received_1h = 0
    for env in envs:
        rows = query_json(
            env,
            "SELECT (SELECT count() FROM emc.dossier_events FINAL) AS events, "
            "(SELECT count() FROM emc.unit_window_rollup FINAL) AS rollups, "
            "(SELECT sum(received) FROM emc.unit_window_rollup FINAL WHERE window = '1h') "
            "AS received_1h",
        )
        events += int(rows[0]["events"])
        rollups += int(rows[0]["rollups"])
        received_1h += int(rows[0]["received_1h"] or 0)
    return {"events": events, "rollup_rows": rollups, "received_in_1h_rollups": received_1h}


def reference_phase(
    workdir: Path,
    workload: Workload,
    *,
    partitions: int = 4,
    peer_python: str | None = None,
    faust_floor: bool = True,
    core_batch: int | None = 10_000,
    seed: int = 7,
    timeout_s: float = 900.0,
    say: Say = _quiet,
) -> dict[str, Any]:
    """Reference lines on the same data: ceiling, Faust floor, core without Faust, peer."""
    workdir.mkdir(parents=True, exist_ok=True)
    n = len(workload.messages)
    out: dict[str, Any] = {}
    with EmbeddedBroker(log_path=workdir / "tansu.log") as broker:
        bootstrap = broker.bootstrap_servers
        create_topics(bootstrap, partitions)
        produce_all(bootstrap, workload.messages)
        out["ceiling_consume"] = _child_json(
            [sys.executable, "-m", "bench.ceiling", bootstrap, "bench-consume", str(n), "consume"],
            timeout_s,
        )
        say(f"  ceiling, consume only: {out['ceiling_consume'].get('events_per_s')} events/s")
        out["ceiling"] = _child_json(
            [sys.executable, "-m", "bench.ceiling", bootstrap, "bench-ceiling", str(n), "decode"],
            timeout_s,
        )
        say(f"  ceiling, consume + decode: {out['ceiling'].get('events_per_s')} events/s")
        if faust_floor:
            out["faust_floor"] = _child_json(
                [sys.executable, "-m", "bench.faust_floor", bootstrap, "bench-floor",
                 str(n), str(free_port()), str(workdir / "faust-floor")],
                timeout_s, log=workdir / "faust-floor.log",
            )  # fmt: skip
            say(f"  Faust floor (empty take_events agent): {out['faust_floor']['events_per_s']}/s")
        if peer_python is not None:
            state = workdir / "quix-state"
            out["peer"] = _child_json(
                [peer_python, "-m", "bench.peer", bootstrap, "bench-peer", str(n),
                 str(state)],
                timeout_s, log=workdir / "peer.log",
            )  # fmt: skip
            say(f"  peer (Quix Streams): {out['peer'].get('events_per_s')} events/s")
            out["peer_bytewax"] = _child_json(
                [peer_python, "-m", "bench.peer_bytewax", bootstrap, "bench-bytewax", str(n)],
                timeout_s, log=workdir / "peer-bytewax.log",
            )  # fmt: skip
            say(f"  peer (Bytewax): {out['peer_bytewax'].get('events_per_s')} events/s")
    if core_batch:
        out["core"] = _child_json(
            [sys.executable, "-m", "bench.core", workload.encoding, str(n),
             str(core_batch), str(seed)],
            timeout_s, log=workdir / "core.log",
        )  # fmt: skip
        say(f"  core without Faust (batches of {core_batch:,}): {out['core']['events_per_s']}/s")
    shutil.rmtree(workdir, ignore_errors=True)
    return out


def _child_json(command: list[str], timeout_s: float, log: Path | None = None) -> dict[str, Any]:
    """Run ``python -m bench.<x> ...`` in the checkout (it is not in the installed package,
    and the peer's Python has neither bench nor streams); its figures are its last JSON line."""
    import json

    with open(log or os.devnull, "wb") as stderr:
        proc = subprocess.run(
            command, stdout=subprocess.PIPE, stderr=stderr, timeout=timeout_s,
            env=checkout_env(), check=False, cwd=REPO_ROOT,
        )  # fmt: skip
    lines = proc.stdout.decode().strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = log.read_text(errors="replace")[-2000:] if log else ""
        raise BenchError(f"{command[2]} failed with {proc.returncode}: {tail}")
    for line in reversed(lines):  # the figures are the last JSON line (Faust may print too)
        if "{" in line:
            return dict(json.loads(line[line.index("{") :]))
    raise BenchError(f"{command[2]} printed no figures: {lines[-3:]}")


def latency_phase(
    workdir: Path,
    *,
    rate: float = 2_000.0,
    duration_s: float = 30.0,
    partitions: int = 4,
    encoding: str = "json",
    seed: int = 11,
    worker_env: dict[str, str] | None = None,
    say: Say = _quiet,
) -> dict[str, Any]:
    """Produce live traffic at ``rate`` events/s for ``duration_s`` s; latencies as a dict."""
    from confluent_kafka import Producer

    from streams.core.registry import UnitRegistry
    from streams.kafka.produce import encode_event
    from streams.traffic.simulate import LifecycleSimulator

    workdir.mkdir(parents=True, exist_ok=True)
    registry = UnitRegistry.load(
        Path(worker_env["EMC_CONFIG_DIR"]) / "units.csv"
        if worker_env and "EMC_CONFIG_DIR" in worker_env
        else None
    )
    sim = LifecycleSimulator(registry, seed=seed, time_scale=1e-4)
    produced_at: dict[tuple[str, int, int], float] = {}
    errors: list[str] = []
    with EmbeddedBroker(log_path=workdir / "tansu.log") as broker:
        bootstrap = broker.bootstrap_servers
        create_topics(bootstrap, partitions)
        group = "emc-bench-latency"
        worker = WorkerProcess.start(
            bootstrap, workdir / "worker", group, EMC_KAFKA__PARTITIONS=str(partitions),
            **(worker_env or {}),
        )  # fmt: skip
        try:
            worker.wait_ready(assigned=partitions * len(LIFECYCLE_TOPICS))
            producer = Producer(
                {"bootstrap.servers": bootstrap, "partitioner": "murmur2_random",
                 "enable.idempotence": True, "linger.ms": 5}
            )  # fmt: skip
            # A fresh simulation emits mostly receipts until lifecycles complete; run it 240 s of
            # event time ahead (discarded, ~3 s of work, about 2 minutes of lifecycles at this
            # time_scale) so that the live part is in steady state at ``rate``, starting a few
            # seconds from now so that no burst of overdue follow-ups comes out first.
            start_ms = int(time.time() * 1000) + 5_000
            for _ in sim.events_between(start_ms - 240_000, start_ms, rate):
                pass
            time.sleep(max(0.0, start_ms / 1000 - time.time()))
            commits = _CommitPoller(bootstrap, group, partitions)
            commits.start()
            sent = 0
            t0 = time.time()
            last_ms = start_ms
            while time.time() - t0 < duration_s:
                time.sleep(0.02)
                now_ms = int(time.time() * 1000)
                for kind, event in sim.events_between(last_ms, now_ms, rate):
                    stamp = time.time()

                    def delivered(err: Any, msg: Any, stamp: float = stamp) -> None:
                        if err is not None:
                            errors.append(str(err))
                        else:
                            produced_at[(msg.topic(), msg.partition(), msg.offset())] = stamp

                    producer.produce(
                        TOPIC_BY_TYPE[kind], key=event["unit_code"].encode(),
                        value=encode_event(kind, event, encoding),  # type: ignore[arg-type]
                        on_delivery=delivered,
                    )  # fmt: skip
                    sent += 1
                producer.poll(0)
                last_ms = now_ms
            producer.flush(30)
            achieved = sent / (time.time() - t0)
            say(f"  produced {sent:,} events at {achieved:,.0f}/s; waiting for commits")
            last: dict[tuple[str, int], int] = {}
            for topic, p, offset in produced_at:
                last[(topic, p)] = max(last.get((topic, p), -1), offset)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not commits.passed(last):
                worker.alive()
                time.sleep(0.2)
            commits.stop()
            sample = worker.sample()
        finally:
            worker.stop(strict=False)
    if errors:
        raise BenchError(f"{len(errors)} messages not delivered: {errors[0]}")
    rows = query_json(
        worker.env,
        "SELECT event_type, source_partition AS p, source_offset AS o, "
        "toUnixTimestamp64Milli(ingested_at) AS ms FROM emc.dossier_events",
    )
    live: list[float] = []
    visible: list[float] = []
    for row in rows:
        key = (TOPIC_BY_TYPE[EventType(row["event_type"])], int(row["p"]), int(row["o"]))
        if key not in produced_at:
            continue
        stamp = produced_at[key]
        live.append(int(row["ms"]) / 1000 - stamp)
        seen = commits.first_past(key)
        if seen is not None:
            visible.append(seen - stamp)
    shutil.rmtree(workdir, ignore_errors=True)
    return {
        "rate_target": rate,
        "rate_achieved": round(achieved, 1),
        "duration_s": duration_s,
        "events_sent": sent,
        "events_stored": len(live),
        "live_table_s": _quantiles(live),
        "clickhouse_visible_s": _quantiles(visible),
        "worker_cpu_s": sample.cpu_s,
        "peak_rss_mb": _mb(sample.peak_rss_bytes),
    }


def _quantiles(values: list[float]) -> dict[str, float | None]:
    if len(values) < 2:
        return {"p50": None, "p99": None, "max": None}
    qs = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": round(qs[49], 3), "p99": round(qs[98], 3), "max": round(max(values), 3)}


class _CommitPoller(threading.Thread):
    """Polls the group's committed offsets every 0.1 s and remembers when each advanced."""

    def __init__(self, bootstrap: str, group: str, partitions: int) -> None:
        super().__init__(name="commit-poller", daemon=True)
        self._watcher = CommitWatcher(bootstrap, group)
        self._wanted = [(t, p) for t in LIFECYCLE_TOPICS for p in range(partitions)]
        self._steps: dict[tuple[str, int], list[tuple[int, float]]] = {
            tp: [] for tp in self._wanted
        }
        self._latest: dict[tuple[str, int], int] = dict.fromkeys(self._wanted, -1)
        self._stopping = threading.Event()

    def run(self) -> None:
        try:
            while not self._stopping.is_set():
                got = self._watcher.committed(self._wanted)
                now = time.time()
                for tp, offset in got.items():
                    if offset > self._latest[tp]:
                        self._latest[tp] = offset
                        self._steps[tp].append((offset, now))
                self._stopping.wait(0.1)
        finally:
            self._watcher.close()

    def stop(self) -> None:
        self._stopping.set()
        self.join(15)

    def passed(self, last: dict[tuple[str, int], int]) -> bool:
        return all(self._latest.get(tp, -1) > offset for tp, offset in last.items())

    def first_past(self, key: tuple[str, int, int]) -> float | None:
        """When the committed offset of the message's partition first passed its offset."""
        topic, partition, offset = key
        for committed, at in self._steps[(topic, partition)]:
            if committed > offset:
                return at
        return None
