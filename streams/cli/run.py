"""``emc worker`` (the Faust worker on the configured Kafka and ClickHouse) and ``emc run`` (the
embedded default: tansu broker, worker on chdb and simulated traffic)."""

from __future__ import annotations

import os
import signal
import threading

import click

from streams.cli.ingest import IngestThread
from streams.cli.settings import load_settings
from streams.cli.simulate import SimulatorThread
from streams.cli.web import issue_run_token
from streams.core.errors import EmcError
from streams.settings import Settings


@click.command()
@click.option(
    "--processes",
    type=int,
    default=1,
    show_default=True,
    help="Worker processes in one consumer group (one core each; >1 needs a ClickHouse server).",
)
def worker(processes: int) -> None:
    """Run the Faust worker against EMC_KAFKA__BOOTSTRAP_SERVERS and EMC_CLICKHOUSE__DSN.

    SIGTERM or Ctrl-C finishes the batch in hand (ClickHouse first, then offsets) and exits.
    """
    from streams.worker.processes import run_processes
    from streams.worker.runner import run_worker

    settings = load_settings()
    try:
        if processes == 1:
            run_worker(settings)
        else:
            code = run_processes(settings, processes)
            if code:
                raise SystemExit(code)
    except EmcError as exc:
        raise click.ClickException(str(exc)) from exc


@click.command()
@click.option(
    "--simulate",
    "rate",
    type=float,
    default=200.0,
    show_default=True,
    help="Simulated events per second (0 = none; produce your own).",
)
@click.option(
    "--duration", type=float, default=None, help="Stop by itself after this many seconds."
)
@click.option("--partitions", type=int, default=4, show_default=True)
@click.option(
    "--time-scale",
    type=float,
    default=0.002,
    show_default=True,
    help="Compress simulated lifecycles: 0.002 turns hours into seconds.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--ingest/--no-ingest",
    "with_ingest",
    default=True,
    show_default=True,
    help="Also serve POST /TrackingMCDT (EMC_INGEST__HOST/PORT).",
)
def run(
    rate: float,
    duration: float | None,
    partitions: int,
    time_scale: float,
    seed: int,
    with_ingest: bool,
) -> None:
    """The embedded default: tansu broker + worker on chdb + simulated traffic.

    Starts the tansu broker on a free loopback port, the worker with the embedded ClickHouse
    engine under EMC_DATA_DIR, and a simulator producing realistic dossier lifecycles; prints
    where to look and a live summary every few seconds. The HTTP ingest (POST /TrackingMCDT)
    runs next to the worker unless --no-ingest.
    """
    from streams.kafka.broker import EmbeddedBroker
    from streams.kafka.topics import ensure_topics
    from streams.worker.runner import run_worker

    base = load_settings()
    if "EMC_LOG_LEVEL" not in os.environ:
        base = base.model_copy(update={"log_level": "warning"})  # keep the summary readable
    data_dir = base.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    broker = EmbeddedBroker(log_path=data_dir / "tansu.log")
    try:
        broker.start()
    except EmcError as exc:
        raise click.ClickException(str(exc)) from exc
    settings = base.model_copy(
        update={
            "data_dir": data_dir,
            "kafka": base.kafka.model_copy(
                update={
                    "bootstrap_servers": broker.bootstrap_servers,
                    "partitions": partitions,
                    "session_timeout_s": min(base.kafka.session_timeout_s, 6.0),
                }
            ),
        }
    )
    simulator: SimulatorThread | None = None
    ingest_thread: IngestThread | None = None
    try:
        ensure_topics(broker.bootstrap_servers, partitions)
        if with_ingest:
            ingest_thread = IngestThread(settings)
            ingest_thread.start()
            ingest_thread.ready.wait(30)
            if ingest_thread.error is not None:
                raise click.ClickException(f"the ingest did not start: {ingest_thread.error}")
        if rate > 0:
            simulator = SimulatorThread(broker.bootstrap_servers, rate, seed, time_scale, "mixed")
            simulator.start()
        web = f"http://{settings.web.host}:{settings.web.port}"
        run_token = issue_run_token(settings)
        click.echo(
            "\n".join(
                [
                    "EMC embedded run",
                    f"  broker (tansu, memory-only): {broker.bootstrap_servers}",
                    f"  ClickHouse (chdb):           {settings.redacted_clickhouse_dsn()}",
                    f"  dashboard (token inside):    {web}/emc/dashboard?token={run_token}",
                    f"  live tables (JSON):          {web}/emc/units",
                    f"  worker progress:             {web}/emc/progress",
                    f"  tracking call (unit tokens): http://{settings.ingest.host}:"
                    f"{settings.ingest.port}/TrackingMCDT"
                    if with_ingest
                    else "  tracking call:               off",
                    f"  simulated traffic:           {rate:g} events/s"
                    if rate
                    else "  simulated traffic:           off",
                    "  after it stops, query ClickHouse with: "
                    f'EMC_DATA_DIR={data_dir} emc query "SELECT ..."',
                    "",
                ]
            ),
            err=False,
        )
        if duration:
            threading.Timer(duration, os.kill, (os.getpid(), signal.SIGTERM)).start()
        run_worker(settings, print_summary=True)
    except EmcError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        if ingest_thread is not None:
            ingest_thread.stop()
        if simulator is not None:
            simulator.stopping.set()
            simulator.join(10)
        broker.stop()
    _final_report(settings)


def _final_report(settings: Settings) -> None:
    from sinks.clickhouse import ClickHouseSink

    sink = ClickHouseSink(settings.clickhouse_dsn(), settings.clickhouse.database)
    db = settings.clickhouse.database
    try:
        rows = sink.query_rows(
            f"SELECT window, count(), uniqExact(unit_code), sum(received) "
            f"FROM {db}.unit_window_rollup FINAL GROUP BY window ORDER BY window"
        )
        events = sink.query_rows(f"SELECT count() FROM {db}.dossier_events FINAL")[0][0]
    finally:
        sink.close()
    click.echo(f"\nClickHouse now holds {events:,} distinct events; emc.unit_window_rollup:")
    for window, n_rows, n_units, received in rows:
        click.echo(f"  {window}: {n_rows:,} rows, {n_units} units, {received:,} receipts")
