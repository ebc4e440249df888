"""``emc query`` (SQL against the configured ClickHouse) and ``emc reconcile`` (every rollup
recomputed from the raw events)."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from streams.cli.settings import load_settings
from streams.core.localtime import format_local

if TYPE_CHECKING:
    from streams.health.fact_check import FactReport


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
@click.option(
    "--facts/--no-facts",
    default=True,
    show_default=True,
    help="Also check emc.dossier_facts against the events (dossiers received in the period).",
)
def reconcile(since: str | None, until: str | None, show: int, facts: bool) -> None:
    """Recompute every rollup of the period from emc.dossier_events and report differences;
    then check the per-dossier facts (emc.dossier_facts) against the same events.

    Exits 1 when any stored row or fact differs from its recomputation (none are expected).
    """
    from sinks.clickhouse import ClickHouseSink
    from sinks.errors import SinkError
    from streams.health.fact_check import check_facts
    from streams.health.reconcile import reconcile as run_reconcile

    settings = load_settings()
    sink = ClickHouseSink(settings.clickhouse_dsn(), settings.clickhouse.database)
    fact_report: FactReport | None = None
    try:
        report = run_reconcile(sink, _iso_instant(since), _iso_instant(until))
        if facts:
            fact_report = check_facts(sink, _iso_instant(since), _iso_instant(until), show)
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
    if fact_report is not None:
        _echo_facts(fact_report, show)
    if not report.ok or (fact_report is not None and not fact_report.ok):
        sys.exit(1)


def _echo_facts(report: FactReport, show: int) -> None:
    """The fact check: a summary line, a table of the units that differ, the first differences."""
    click.echo(
        f"facts: {report.dossiers_compared:,} dossiers compared, "
        f"{report.differing:,} dossiers differ"
    )
    units = report.differing_units()
    if not units:
        return
    header = ("unit", "dossiers", "receipts", "results", "rated", "differing")
    cells = [header] + [
        (
            u.unit_code,
            f"{u.dossiers_events:,} / {u.dossiers_facts:,}",
            f"{u.receipts_events:,} / {u.receipts_facts:,}",
            f"{u.results_events:,} / {u.results_facts:,}",
            f"{u.rated_events:,} / {u.rated_facts:,}",
            f"{u.differing:,}",
        )
        for u in units
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    click.echo("  per unit, events / facts:")
    for row in cells:
        click.echo("  " + "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))
    for d in report.differences[:show]:
        click.echo(f"  {d.describe()}")
    if len(report.differences) > show:
        click.echo(f"  … {len(report.differences) - show:,} more (--show N)")


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
