"""``emc query`` (SQL against the configured ClickHouse) and ``emc reconcile`` (every rollup
recomputed from the raw events)."""

from __future__ import annotations

import json
import sys

import click

from streams.cli.settings import load_settings
from streams.core.localtime import format_local


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


@click.command()
@click.option("--since", default=None, help="First window start to check (ISO-8601).")
@click.option("--until", default=None, help="Check window starts before this (ISO-8601).")
@click.option("--show", type=int, default=20, show_default=True, help="Differences to list.")
def reconcile(since: str | None, until: str | None, show: int) -> None:
    """Recompute every rollup of the period from emc.dossier_events and report differences.

    Exits 1 when any stored row differs from its recomputation (none are expected).
    """
    from sinks.clickhouse import ClickHouseSink
    from sinks.errors import SinkError
    from streams.health.reconcile import reconcile as run_reconcile

    settings = load_settings()
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
            f"  {d.unit_code} {d.window} {format_local(d.window_start_ms)} {d.counter}: "
            f"stored {d.stored} recomputed {d.recomputed}"
        )
    if not report.ok:
        sys.exit(1)


@click.command()
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

    settings = load_settings()
    sink = ClickHouseSink(settings.clickhouse_dsn(), settings.clickhouse.database)
    try:
        names, result_rows = sink.query_table(sql)
    except SinkError as exc:
        raise click.ClickException(str(exc)) from exc
    except Exception as exc:
        raise click.ClickException(f"query failed: {exc}") from exc
    finally:
        sink.close()
    rows = [list(r) for r in result_rows]
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
