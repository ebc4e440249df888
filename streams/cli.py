"""The ``emc`` command: worker, embedded run, simulator, queries."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from typing import Any

import click

from streams.errors import EmcError
from streams.settings import Settings


def _settings(**overrides: Any) -> Settings:
    try:
        base = Settings()
    except Exception as exc:  # pydantic's ValidationError: say which variable is wrong
        raise click.ClickException(f"invalid EMC_* settings: {exc}") from exc
    return base.model_copy(update=overrides) if overrides else base


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """EMC: live measurement of digital public services from dossier lifecycle events."""


@main.command()
def worker() -> None:
    """Run the Faust worker against EMC_KAFKA__BOOTSTRAP_SERVERS and EMC_CLICKHOUSE__DSN.

    SIGTERM or Ctrl-C finishes the batch in hand (ClickHouse first, then offsets) and exits.
    """
    from streams.runner import run_worker

    try:
        run_worker(_settings())
    except EmcError as exc:
        raise click.ClickException(str(exc)) from exc


class _SimulatorThread(threading.Thread):
    """Produces simulated lifecycles at a steady rate until stopped."""

    def __init__(
        self, bootstrap: str, rate: float, seed: int, time_scale: float, encoding: str
    ) -> None:
        super().__init__(name="simulator", daemon=True)
        from streams.produce import EventProducer
        from streams.registry import UnitRegistry, default_units_path
        from streams.simulate import LifecycleSimulator

        self.rate = rate
        self.sim = LifecycleSimulator(
            UnitRegistry.load(default_units_path()), seed=seed, time_scale=time_scale
        )
        self.producer = EventProducer(bootstrap, encoding=encoding)  # type: ignore[arg-type]
        self.stopping = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            last = int(time.time() * 1000)
            while not self.stopping.wait(0.1):
                now = int(time.time() * 1000)
                self.producer.send_all(self.sim.events_between(last, now, self.rate))
                last = now
            self.producer.close()
        except BaseException as exc:  # reported by the caller
            self.error = exc


@main.command()
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
def run(rate: float, duration: float | None, partitions: int, time_scale: float, seed: int) -> None:
    """The embedded default: tansu broker + worker on chdb + simulated traffic.

    Starts the tansu broker on a free loopback port, the worker with the embedded ClickHouse
    engine under EMC_DATA_DIR, and a simulator producing realistic dossier lifecycles; prints
    where to look and a live summary every few seconds.
    """
    from streams.broker import EmbeddedBroker
    from streams.runner import run_worker
    from streams.topics import ensure_topics

    base = _settings()
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
    simulator: _SimulatorThread | None = None
    try:
        ensure_topics(broker.bootstrap_servers, partitions)
        if rate > 0:
            simulator = _SimulatorThread(broker.bootstrap_servers, rate, seed, time_scale, "mixed")
            simulator.start()
        web = f"http://{settings.web.host}:{settings.web.port}"
        run_token = cli_web.issue_run_token(settings)
        click.echo(
            "\n".join(
                [
                    "EMC embedded run",
                    f"  broker (tansu, memory-only): {broker.bootstrap_servers}",
                    f"  ClickHouse (chdb):           {settings.redacted_clickhouse_dsn()}",
                    f"  dashboard (token inside):    {web}/emc/dashboard?token={run_token}",
                    f"  live tables (JSON):          {web}/emc/units",
                    f"  worker progress:             {web}/emc/progress",
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


@main.command()
@click.option("--rate", type=float, default=200.0, show_default=True, help="Events per second.")
@click.option("--duration", type=float, default=None, help="Seconds to run (default: forever).")
@click.option("--bootstrap-servers", default=None, help="Default: EMC_KAFKA__BOOTSTRAP_SERVERS.")
@click.option(
    "--encoding", type=click.Choice(["json", "avro", "mixed"]), default="mixed", show_default=True
)
@click.option(
    "--time-scale",
    type=float,
    default=1.0,
    show_default=True,
    help="Lifecycle durations multiplier (1 = real minutes-to-days).",
)
@click.option("--seed", type=int, default=0, show_default=True)
def simulate(
    rate: float,
    duration: float | None,
    bootstrap_servers: str | None,
    encoding: str,
    time_scale: float,
    seed: int,
) -> None:
    """Produce realistic dossier lifecycles for the registry's units to any broker."""
    bootstrap = bootstrap_servers or _settings().kafka.bootstrap_servers
    sim = _SimulatorThread(bootstrap, rate, seed, time_scale, encoding)
    sim.start()
    started = time.monotonic()
    try:
        while sim.is_alive() and (duration is None or time.monotonic() - started < duration):
            time.sleep(min(5.0, duration or 5.0))
            click.echo(f"sent {sim.producer.sent:,} events to {bootstrap}")
    except KeyboardInterrupt:
        pass
    sim.stopping.set()
    sim.join(30)
    if sim.error is not None:
        raise click.ClickException(f"simulator failed: {sim.error}")
    click.echo(f"done: {sim.producer.sent:,} events")


def _local(ms: int) -> str:
    """An epoch-ms instant as Asia/Ho_Chi_Minh local time (UTC+07:00)."""
    from datetime import UTC, datetime, timedelta

    return (datetime.fromtimestamp(ms / 1000, UTC) + timedelta(hours=7)).strftime("%Y-%m-%d %H:%M")


def _iso_instant(value: str | None) -> str | None:
    """Validate an ISO-8601 instant given on the command line (it is put into SQL)."""
    if value is None:
        return None
    from datetime import datetime

    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO-8601 time: {value!r}") from exc
    return parsed.isoformat()


@main.command()
@click.option("--since", default=None, help="First window start to check (ISO-8601).")
@click.option("--until", default=None, help="Check window starts before this (ISO-8601).")
@click.option("--show", type=int, default=20, show_default=True, help="Differences to list.")
def reconcile(since: str | None, until: str | None, show: int) -> None:
    """Recompute every rollup of the period from emc.dossier_events and report differences.

    Exits 1 when any stored row differs from its recomputation (none are expected).
    """
    from sinks.clickhouse import ClickHouseSink
    from sinks.errors import SinkError
    from sinks.reconcile import reconcile as run_reconcile

    settings = _settings()
    sink = ClickHouseSink(settings.clickhouse_dsn(), settings.clickhouse.database)
    try:
        report = run_reconcile(sink, _iso_instant(since), _iso_instant(until))
    except SinkError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        sink.close()
    for window, n in report.rows_compared.items():
        diffs = sum(1 for d in report.differences if d.window == window)
        click.echo(f"{window}: {n:,} rows compared, {diffs:,} differences")
    for d in report.differences[:show]:
        click.echo(
            f"  {d.unit_code} {d.window} {_local(d.window_start_ms)} {d.counter}: "
            f"stored {d.stored} recomputed {d.recomputed}"
        )
    if not report.ok:
        sys.exit(1)


@main.command()
@click.argument("sql")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
)
def query(sql: str, fmt: str) -> None:
    """Run SQL against the configured ClickHouse (embedded: only while no worker runs)."""
    from sinks.clickhouse import ClickHouseSink
    from sinks.errors import SinkError

    settings = _settings()
    sink = ClickHouseSink(settings.clickhouse_dsn(), settings.clickhouse.database)
    try:
        result = sink.client.query(sql)
    except SinkError as exc:
        raise click.ClickException(str(exc)) from exc
    except Exception as exc:
        raise click.ClickException(f"query failed: {exc}") from exc
    finally:
        sink.close()
    names = list(result.column_names)
    rows = [list(r) for r in result.result_rows]
    if fmt == "json":
        for r in rows:
            click.echo(
                json.dumps(dict(zip(names, r, strict=True)), default=str, ensure_ascii=False)
            )
    elif fmt == "csv":
        import csv

        writer = csv.writer(sys.stdout)
        writer.writerow(names)
        writer.writerows(rows)
    else:
        cells = [names, *[[("" if v is None else str(v)) for v in r] for r in rows]]
        widths = [max(len(row[i]) for row in cells) for i in range(len(names))]
        for n, row in enumerate(cells):
            click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))
            if n == 0:
                click.echo("  ".join("-" * w for w in widths))


from streams import cli_web  # noqa: E402  (token and top commands)

main.add_command(cli_web.token)
main.add_command(cli_web.top)
from streams.cli_health import import_command, status_command  # noqa: E402

main.add_command(import_command)
main.add_command(status_command)
from streams.cli_bench import bench  # noqa: E402

main.add_command(bench)

if __name__ == "__main__":  # pragma: no cover
    main()
