"""``emc bench``: the whole pipeline on the embedded broker and ClickHouse, measured.

See :mod:`bench.suite` for exactly what each figure means and docs/performance.md for
the figures measured so far and what limits them. The suite (bench/) is not part of the
installed package: it is imported lazily from the source checkout (:func:`_import_bench`).
"""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click

from streams.settings import REPO_ROOT

BENCH_VENV = REPO_ROOT / ".venv-bench"
"""The peer's virtualenv (Quix Streams and py-spy), apart from .venv: see PEER_REQUIREMENTS."""
PEER_REQUIREMENTS = REPO_ROOT / "bench" / "requirements-peer.txt"
"""What .venv-bench holds (``pip install -r``; also ``make bench-venv``): Quix Streams 3.28 pins
confluent-kafka<2.13 and an older pydantic, which would downgrade the project's own."""


def _import_bench() -> None:
    """Make the benchmark suite importable: bench/ is not in the installed package, so when
    ``bench`` is not importable, the source checkout (:data:`REPO_ROOT`) goes on ``sys.path``."""
    if importlib.util.find_spec("bench") is not None:
        return
    if not (REPO_ROOT / "bench" / "__init__.py").is_file():
        raise click.ClickException(
            f"emc bench needs the benchmark suite (bench/), which is not part of the installed "
            f"package and is not in {REPO_ROOT}: run it from a source checkout "
            f"(pip install -e . in the repository)"
        )
    sys.path.insert(0, str(REPO_ROOT))
    importlib.invalidate_caches()


def _has_peers(python: Path) -> bool:
    if not python.exists():
        return False
    probe = subprocess.run(
        [str(python), "-c", "import quixstreams, bytewax, msgspec"], capture_output=True
    )
    return probe.returncode == 0


def _bench_python(create: bool, say: Any) -> tuple[str | None, str | None, str]:
    """(python with quixstreams, py-spy binary, why not) — creating .venv-bench (or completing
    it) from PEER_REQUIREMENTS if asked."""
    python = BENCH_VENV / "bin" / "python"
    spy = BENCH_VENV / "bin" / "py-spy"
    if create and not _has_peers(python):
        say(f"installing {PEER_REQUIREMENTS.relative_to(REPO_ROOT)} into {BENCH_VENV} for the "
            "Quix Streams and Bytewax peers and py-spy (one time, ~1 min)")  # fmt: skip
        try:
            if not python.exists():
                base = getattr(sys, "_base_executable", sys.executable)
                subprocess.run(
                    [base, "-m", "venv", str(BENCH_VENV)], check=True, capture_output=True
                )
                (BENCH_VENV / ".gitignore").write_text("*\n")
            subprocess.run(
                [str(python), "-m", "pip", "install", "-q", "-r", str(PEER_REQUIREMENTS)],
                check=True, capture_output=True, timeout=900,
            )  # fmt: skip
        except (subprocess.SubprocessError, OSError) as exc:
            detail = getattr(exc, "stderr", None)
            tail = f": {detail.decode(errors='replace').strip()[-500:]}" if detail else ""
            return None, None, f"could not create {BENCH_VENV}: {exc}{tail}"
    if not python.exists():
        return None, None, f"no {BENCH_VENV} (run without --no-peer, or make bench-venv)"
    if not _has_peers(python):
        return (
            None,
            str(spy) if spy.exists() else None,
            "quixstreams or bytewax missing in .venv-bench",
        )
    return str(python), str(spy) if spy.exists() else None, ""


@click.command("bench")
@click.option(
    "--ingest",
    "ingest_calls",
    type=int,
    default=None,
    help="Only the HTTP ingest load test: this many calls on loopback (tansu).",
)
@click.option(
    "--events", type=int, default=None, help="Events per encoding [150,000; quick 20,000]."
)
@click.option("--quick", is_flag=True, help="About a minute: fewer events, short latency run.")
@click.option(
    "--encoding",
    type=click.Choice(["json", "avro", "both"]),
    default="both",
    show_default=True,
)
@click.option("--partitions", type=int, default=4, show_default=True)
@click.option("--rate", type=float, default=2_000.0, show_default=True,
              help="Events/s of the latency run.")  # fmt: skip
@click.option("--latency-s", type=float, default=None, help="Latency run length [30; quick 10].")
@click.option("--no-latency", is_flag=True)
@click.option("--no-peer", is_flag=True, help="Skip the peer lines (Quix Streams, Bytewax).")
@click.option("--no-ceiling", is_flag=True, help="Skip the bare-consumer line.")
@click.option("--profile", "profile_dir", type=click.Path(path_type=Path), default=None,
              help="py-spy the worker during each throughput run; raw stacks go here.")  # fmt: skip
@click.option("--scaling", is_flag=True, help="Scaling runs instead (workers, units, dossiers).")
@click.option("--output", type=click.Path(path_type=Path), default=None, help="Write JSON here.")
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--clickhouse-server", is_flag=True,
              help="Workers write to ClickHouse in a process of its own (HTTP) instead of the "
              "embedded engine: the worker's RSS and CPU without the engine.")  # fmt: skip
@click.option("--worker-env", "worker_env", multiple=True, metavar="EMC_NAME=VALUE",
              help="A setting for the benchmarked workers (repeatable), e.g. "
              "EMC_STREAM__GC_THRESHOLD=0 for an A/B run; the bench's own environment does "
              "not reach them.")  # fmt: skip
def bench(
    ingest_calls: int | None,
    events: int | None,
    quick: bool,
    encoding: str,
    partitions: int,
    rate: float,
    latency_s: float | None,
    no_latency: bool,
    no_peer: bool,
    no_ceiling: bool,
    profile_dir: Path | None,
    scaling: bool,
    output: Path | None,
    seed: int,
    clickhouse_server: bool,
    worker_env: tuple[str, ...],
) -> None:
    """Measure the pipeline end to end on tansu + chdb, with reference lines, in one run.

    Pre-produces a realistic stream (all event types, ~1 % duplicates, 3 % receipts late by
    hours) per encoding, runs `emc worker` over it, and prints sustained throughput, CPU per
    million events and peak RSS next to a bare consumer (ceiling) and Quix Streams (peer) on the
    same data; then latency to the live table and to ClickHouse at a steady --rate.
    """
    if ingest_calls is not None:
        _ingest_bench(ingest_calls, output)
        return
    env = _worker_env(worker_env)
    from rich.console import Console

    _import_bench()
    from bench import report

    console = Console(stderr=True)

    began = time.monotonic()

    def say(text: str) -> None:
        console.print(f"[dim]{time.monotonic() - began:6.1f} s[/dim] {text}", highlight=False)

    n = events or (20_000 if quick else 150_000)
    results: dict[str, Any] = {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_at_start": os.getloadavg(),
        },
        "settings": {
            "events": n,
            "partitions": partitions,
            "quick": quick,
            "seed": seed,
            "clickhouse": "server process (HTTP)" if clickhouse_server else "embedded",
            "worker_env": env,
        },
    }
    peer_python = py_spy = None
    if not no_peer or profile_dir is not None:
        peer_python, py_spy, why = _bench_python(create=not no_peer, say=say)
        if no_peer:
            peer_python = None
        elif peer_python is None:
            say(f"[yellow]peer line skipped: {why}[/yellow]")
            results["peer_skipped"] = why
    else:
        results["peer_skipped"] = "--no-peer"
    if profile_dir is not None:
        if py_spy is None:
            raise click.ClickException("--profile needs py-spy in .venv-bench")
        profile_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="emc-bench-"))
    try:
        _run(results, work, n, seed, quick, scaling, encoding, partitions, rate, latency_s,
             no_latency, no_ceiling, peer_python, py_spy, profile_dir, say,
             clickhouse_server, env)  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["host"]["load_avg_at_end"] = os.getloadavg()
    results["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    report.render(results, Console(width=None if sys.stdout.isatty() else 150))
    if output is not None:
        report.write_json(results, output)
        say(f"figures written to {output}")


def _run(
    results: dict[str, Any],
    work: Path,
    n: int,
    seed: int,
    quick: bool,
    scaling: bool,
    encoding: str,
    partitions: int,
    rate: float,
    latency_s: float | None,
    no_latency: bool,
    no_ceiling: bool,
    peer_python: str | None,
    py_spy: str | None,
    profile_dir: Path | None,
    say: Any,
    clickhouse_server: bool = False,
    worker_env: dict[str, str] | None = None,
) -> None:
    from bench import suite
    from bench.profile import summarize
    from bench.workload import build_workload
    from streams.core.registry import UnitRegistry

    registry = UnitRegistry.load()
    if scaling:
        from bench.scaling import run_scaling

        results["scaling"] = run_scaling(work, n, seed=seed, say=say, quick=quick)
    else:
        encodings = ["json", "avro"] if encoding == "both" else [encoding]
        results["throughput"] = {}
        results["profiles"] = {}
        for enc in encodings:
            say(f"[bold]{enc}[/bold]: building {n:,} events")
            workload = build_workload(registry, n, enc, seed=seed)  # type: ignore[arg-type]
            run: dict[str, Any] = {"workload": workload.summary()}
            prof = profile_dir / f"worker-{enc}.txt" if profile_dir else None
            run["worker"] = suite.throughput_phase(
                work / f"throughput-{enc}", workload, partitions=partitions, say=say,
                profile_to=prof, py_spy=py_spy, clickhouse_server=clickhouse_server,
                worker_env=worker_env or None,
            )  # fmt: skip
            say(f"  worker: {run['worker']['events_per_s']:,.0f} events/s")
            if prof is not None and prof.exists():
                results["profiles"][enc] = summarize(prof)
            if not no_ceiling or peer_python:
                refs = suite.reference_phase(
                    work / f"reference-{enc}", workload, partitions=partitions,
                    peer_python=peer_python, seed=seed, say=say,
                )  # fmt: skip
                run.update(refs)
            results["throughput"][enc] = run
        if not no_latency:
            duration = latency_s or (10.0 if quick else 30.0)
            say(f"[bold]latency[/bold]: {rate:,.0f} events/s for {duration:.0f} s")
            results["latency"] = suite.latency_phase(
                work / "latency", rate=rate, duration_s=duration, partitions=partitions,
                worker_env=worker_env or None, say=say,
            )  # fmt: skip


def _worker_env(pairs: tuple[str, ...]) -> dict[str, str]:
    """``--worker-env`` values as a dict; each must be ``EMC_NAME=VALUE``."""
    env: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.startswith("EMC_"):
            raise click.BadParameter(f"{pair!r} is not EMC_NAME=VALUE", param_hint="--worker-env")
        env[name] = value
    return env


def _ingest_bench(calls: int, output: Path | None) -> None:
    """POST /TrackingMCDT load on loopback: tansu + one ingest, ``calls`` calls, 60 s at most."""
    import asyncio
    import dataclasses
    import json
    import tempfile

    from pydantic import SecretStr

    from streams.cli.ingest import IngestThread
    from streams.ingest.load import run_load
    from streams.kafka.broker import EmbeddedBroker, free_port
    from streams.kafka.topics import ensure_topics
    from streams.settings import IngestSettings, KafkaSettings, Settings, WebSettings

    token = "emc-bench-ingest-token"
    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory() as tmp:
        ensure_topics(broker.bootstrap_servers, 4)
        settings = Settings(
            data_dir=Path(tmp),
            kafka=KafkaSettings(bootstrap_servers=broker.bootstrap_servers),
            web=WebSettings(tokens=SecretStr(f"unit:HA_NOI={token}")),
            ingest=IngestSettings(port=free_port()),
        )
        thread = IngestThread(settings)
        thread.start()
        thread.ready.wait(30)
        time.sleep(0.5)
        try:
            result = asyncio.run(
                run_load(
                    f"http://127.0.0.1:{settings.ingest.port}/TrackingMCDT",
                    token,
                    "1076",
                    calls=calls,
                    max_seconds=60.0,
                )
            )
        finally:
            thread.stop()
    click.echo(
        f"ingest: {result.ok:,} of {result.sent:,} calls accepted in {result.wall_s:.1f} s = "
        f"{result.calls_per_s:,.0f} calls/s, p50 {result.p50_ms:.1f} ms, "
        f"p99 {result.p99_ms:.1f} ms ({result.failed} refused)"
    )
    if output is not None:
        output.write_text(json.dumps(dataclasses.asdict(result), indent=1), encoding="utf-8")
