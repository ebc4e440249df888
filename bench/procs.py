"""Child processes of the benchmark (and of the integration tests) and how they are observed.

chdb allows one data path per process, so the worker runs as ``python -m streams.cli worker``
in a child process that owns the embedded ClickHouse store (:class:`WorkerProcess`); the bench
reads ClickHouse with a child ``emc query`` after the worker stopped. CPU time and peak RSS
come from ``/proc/<pid>``.

bench/ and tools/ live in the repository, outside the installed package: a child that runs
``python -m bench.<x>`` or ``python -m tools.chdb_http`` (or imports either) is started in the
checkout with it on ``PYTHONPATH`` (:func:`checkout_env`), wherever the parent was started from.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streams.core.errors import EmcError
from streams.kafka.broker import free_port

EMC = [sys.executable, "-m", "streams.cli"]
BENCH_TOKEN = "emc-bench-national-token"
"""National token of the bench's workers (their web server needs one)."""
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
REPO_ROOT = Path(__file__).resolve().parent.parent
"""The checkout holding bench/ and tools/ (neither is in the installed package)."""


def checkout_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's environment) with :data:`REPO_ROOT` first on
    ``PYTHONPATH``: what a child needs to import ``bench`` and ``tools`` from the checkout, also
    a Python whose environment has neither (the peer's ``.venv-bench``)."""
    out = dict(os.environ if env is None else env)
    root = str(REPO_ROOT)
    rest = [p for p in out.get("PYTHONPATH", "").split(os.pathsep) if p and p != root]
    out["PYTHONPATH"] = os.pathsep.join([root, *rest])
    return out


class BenchError(EmcError):
    """A benchmark phase could not run (a child failed or timed out)."""


@dataclass(frozen=True)
class ProcSample:
    """CPU seconds (user + system) and memory of a process at one instant."""

    cpu_s: float
    rss_bytes: int
    peak_rss_bytes: int
    """VmHWM: the highest resident set size since the process started."""


def proc_sample(pid: int) -> ProcSample:
    """Read ``/proc/<pid>/stat`` (utime + stime) and ``/proc/<pid>/status`` (VmRSS, VmHWM)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    cpu_s = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14, 15)
    rss = hwm = 0
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) * 1024
    return ProcSample(cpu_s, rss, hwm)


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds by thread name (``/proc/<pid>/task/*/comm``; digits folded: ``Foo#``).

    Python threads are named after the process unless renamed; chdb's engine and librdkafka
    name theirs, which is how native work shows up next to the event loop's."""
    totals: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        name = "".join("#" if c.isdigit() else c for c in name).replace("##", "#")
        if task.name == str(pid):
            name = "main (event loop)"
        cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        totals[name] = totals.get(name, 0.0) + cpu
    return totals


def worker_env(
    bootstrap: str, data_dir: Path, group_id: str, web_port: int, **overrides: str
) -> dict[str, str]:
    """The environment of an ``emc worker`` child on the embedded broker (tansu-safe producer,
    short session timeout, a national token); the bench and the integration tests use it."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("EMC_")},
        "EMC_DATA_DIR": str(data_dir),
        "EMC_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "EMC_KAFKA__SESSION_TIMEOUT_S": "6",
        "EMC_KAFKA__GROUP_ID": group_id,
        "EMC_WEB__PORT": str(web_port),
        "EMC_LOG_LEVEL": "warning",
        "EMC_WEB__TOKENS": f"national={BENCH_TOKEN}",
        **overrides,
    }


@dataclass
class WorkerProcess:
    """An ``emc worker`` child process, how to talk to it and how to observe it: the one
    harness of the bench and of the integration tests (:meth:`start`).

    Failures (the worker exited, did not get ready or stop in time) raise :class:`BenchError`
    with the tail of the worker's log."""

    proc: subprocess.Popen[bytes]
    env: dict[str, str]
    web_port: int
    log_path: Path
    token: str = BENCH_TOKEN
    """A national token the worker accepts (``EMC_WEB__TOKENS``): :meth:`progress` sends it."""

    @classmethod
    def start(
        cls,
        bootstrap: str,
        data_dir: Path,
        group_id: str = "emc-bench",
        *,
        token: str = BENCH_TOKEN,
        log_name: str | None = None,
        **overrides: str,
    ) -> WorkerProcess:
        """Start ``emc worker`` on a free web port with :func:`worker_env` (national ``token``)
        plus ``overrides``; stdout and stderr go to ``data_dir / log_name`` (default
        ``worker-<port>.log``). Does not wait: see :meth:`wait_ready`."""
        data_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        env = worker_env(
            bootstrap, data_dir, group_id, port,
            **{"EMC_WEB__TOKENS": f"national={token}", **overrides},
        )  # fmt: skip
        log_path = data_dir / (log_name or f"worker-{port}.log")
        with log_path.open("ab") as log:
            proc = subprocess.Popen([*EMC, "worker"], env=env, stdout=log, stderr=subprocess.STDOUT)
        return cls(proc=proc, env=env, web_port=port, log_path=log_path, token=token)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        """The exit code once the process has exited (negative: killed by that signal)."""
        return self.proc.poll()

    def progress(self, timeout_s: float = 5.0) -> dict[str, Any]:
        """``GET /emc/progress``; ``OSError`` while the web server does not answer."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.web_port}/emc/progress",
            headers={"Authorization": f"Bearer {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=timeout_s) as resp:
            return dict(json.loads(resp.read()))

    def alive(self) -> None:
        """Raise :class:`BenchError` if the worker process has exited."""
        if self.proc.poll() is not None:
            raise BenchError(f"worker exited with {self.proc.returncode}:\n{self.log()}")

    def wait_for(
        self,
        done: Callable[[dict[str, Any]], bool],
        what: str,
        timeout_s: float = 90.0,
        poll_s: float = 0.1,
    ) -> dict[str, Any]:
        """Poll :meth:`progress` until ``done(progress)``; return that progress. Raises if the
        worker exits or ``timeout_s`` passes (``what``: the awaited thing, for the message)."""
        deadline = time.monotonic() + timeout_s
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            self.alive()
            try:
                last = self.progress()
            except OSError:
                last = {}
            else:
                if done(last):
                    return last
            time.sleep(poll_s)
        raise BenchError(f"worker not {what} in {timeout_s:.0f} s (progress {last}):\n{self.log()}")

    def wait_ready(self, timeout_s: float = 90.0, assigned: int = 0) -> dict[str, Any]:
        """Wait until the web server answers and holds ``assigned`` lifecycle partitions."""
        return self.wait_for(
            lambda p: len(p.get("assigned", [])) >= assigned,
            f"ready with {assigned} partitions assigned" if assigned else "ready",
            timeout_s,
        )

    def wait_consumed(self, n: int, timeout_s: float = 90.0) -> dict[str, Any]:
        """Wait until the worker has processed at least ``n`` messages."""
        return self.wait_for(
            lambda p: p.get("consumed", 0) >= n, f"past {n} messages consumed", timeout_s
        )

    def stop(
        self, sig: int = signal.SIGTERM, timeout_s: float = 60.0, *, strict: bool = True
    ) -> int:
        """Send ``sig`` (unless it has exited) and return the exit code. A worker still running
        after ``timeout_s`` is SIGKILLed; ``strict`` then raises :class:`BenchError`."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
                if strict:
                    raise BenchError(f"worker did not stop on {sig}:\n{self.log()}") from None
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL the worker if it is still running, and reap it."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def sample(self) -> ProcSample:
        """CPU seconds and memory of the worker now (:func:`proc_sample`)."""
        return proc_sample(self.pid)

    def thread_cpu(self) -> dict[str, float]:
        """CPU seconds of the worker by thread name (:func:`thread_cpu`)."""
        return thread_cpu(self.pid)

    def log(self, chars: int = 6000) -> str:
        """The last ``chars`` characters of the worker's log."""
        return self.log_path.read_text(errors="replace")[-chars:]


class ClickHouseServer:
    """The ClickHouse engine behind its HTTP interface (``python -m tools.chdb_http``) as a
    process of its own: a worker then talks to it as to a ClickHouse server (production's
    shape), and its memory is not in the worker's RSS. The bench, the integration tests (which
    kill it and start it again on the same data) and tools/chdb_http's tests use it.

    Data in ``path / "data"``, output in ``path / "chdb_http.log"``; ``args`` are more options
    of tools/chdb_http (e.g. ``("--user", "emc")``) and ``env`` more environment variables of
    the process (e.g. ``CHDB_HTTP_PASSWORD``)."""

    def __init__(
        self,
        path: Path,
        *,
        fresh: bool = True,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        if fresh:  # a bench run never counts an earlier run's rows
            shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.port = free_port()
        self.log_path = path / "chdb_http.log"
        self.args = tuple(args)
        self.env = checkout_env({**os.environ, **(env or {})})
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def dsn(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0) -> ClickHouseServer:
        """Start the process (again, on the same data and port) and wait for ``/ping``."""
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tools.chdb_http", "--path", str(self.path / "data"),
                 "--port", str(self.port), *self.args],
                stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=REPO_ROOT,
            )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"chdb_http exited with {self.proc.returncode}: {self.log()}")
            try:
                with urllib.request.urlopen(f"{self.dsn}/ping", timeout=1) as resp:
                    if resp.status == 200 and resp.read() == b"Ok.\n":
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        raise BenchError(f"chdb_http did not answer /ping in {timeout_s:.0f} s: {self.log()}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 30 s."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        """Make ClickHouse unavailable at once (SIGKILL)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def log(self, chars: int = 2000) -> str:
        """The last ``chars`` characters of the server's output."""
        return self.log_path.read_text(errors="replace")[-chars:]


class Profiler:
    """``py-spy record`` attached to a running process until :meth:`stop` (raw stacks).

    Samples 100 times a second, only the thread holding the GIL (``--gil``: where Python time
    goes, not waiting), threads named in the stacks; the output is collapsed stacks, read by
    :func:`bench.profile.summarize`.
    """

    def __init__(self, py_spy: str, pid: int, output: Path) -> None:
        self.output = output
        self._proc = subprocess.Popen(
            [py_spy, "record", "--pid", str(pid), "--rate", "100", "--format", "raw",
             "--gil", "--threads", "--nonblocking", "--output", str(output)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def stop(self) -> None:
        """SIGINT py-spy (it writes the profile and exits)."""
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)
            try:
                self._proc.wait(30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)


class CommitWatcher:
    """Reads a consumer group's committed offsets (exact on tansu, unlike end offsets)."""

    def __init__(self, bootstrap: str, group_id: str) -> None:
        from confluent_kafka import Consumer

        self._consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": group_id, "enable.auto.commit": False}
        )

    def committed(self, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """(topic, partition) → next offset to read (``-1001`` when nothing is committed)."""
        from confluent_kafka import TopicPartition

        got = self._consumer.committed([TopicPartition(t, p) for t, p in partitions], timeout=10)
        return {(tp.topic, tp.partition): tp.offset for tp in got}

    def wait_past(
        self,
        last_offsets: dict[tuple[str, int], int],
        timeout_s: float,
        poll_s: float = 0.1,
        check: Callable[[], None] | None = None,
    ) -> float:
        """Wait until every partition's commit passes its last offset; return ``time.time()``."""
        wanted = list(last_offsets)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if check is not None:
                check()
            got = self.committed(wanted)
            if all(got[tp] > last_offsets[tp] for tp in wanted):
                return time.time()
            time.sleep(poll_s)
        raise BenchError(f"offsets not committed within {timeout_s:.0f} s")

    def close(self) -> None:
        self._consumer.close()


def query_json(env: dict[str, str], sql: str, timeout_s: float = 300.0) -> list[dict[str, Any]]:
    """Rows of ``sql`` from the worker's ClickHouse, read by a child ``emc query``."""
    out = subprocess.run(
        [*EMC, "query", sql, "--format", "json"],
        env=env, capture_output=True, timeout=timeout_s, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise BenchError(f"emc query failed: {out.stderr.decode(errors='replace')[-2000:]}")
    return [json.loads(line) for line in out.stdout.decode().splitlines() if line.strip()]
