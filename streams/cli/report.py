"""``emc report``: the assessment report of a period (HTML, XLSX, PNG) and ``emc.unit_scores``.

Reads ClickHouse directly: a server DSN, or the embedded store when no worker holds it (chdb
allows one process per data path). With a worker running on the embedded store, serve the
store with ``python -m tools.chdb_http`` and point both at it, or stop the worker first.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from streams.cli.settings import load_settings
from streams.core.errors import EmcError
from streams.core.periods import Period, PeriodError, parse_period

_LOCKED_MARKERS = ("Cannot lock file", "Error initializing EmbeddedServer")


def _period(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Period | None:
    if value is None:
        return None
    try:
        return parse_period(value)
    except PeriodError as exc:
        raise click.BadParameter(str(exc)) from exc


@click.command("report")
@click.option(
    "--period",
    required=True,
    callback=_period,
    help="2026-Q3 | 2026-11 | 2026 | 2026-07-01..2026-09-30 (Asia/Ho_Chi_Minh days).",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the HTML, XLSX and PNG files (created).",
)
@click.option("--compare", callback=_period, help="A second period, shown side by side.")
@click.option("--lang", type=click.Choice(["vi", "en"]), default="vi", show_default=True)
@click.option("--store/--no-store", default=True, help="Write the results to emc.unit_scores.")
@click.option(
    "--rollup/--no-rollup",
    default=True,
    show_default=True,
    help="Count units merged away before the period's end for their successor "
    "(config/units.csv successor); --no-rollup lists every unit valid in the period.",
)
def report(
    period: Period, out_dir: Path, compare: Period | None, lang: str, store: bool, rollup: bool
) -> None:
    """The period's indicators, QĐ 766 scores, levels A–E and ranks, as seed 003 publishes them.

    A compared period is rolled up to the same units as the main one (its end)."""
    from rich.progress import Progress

    from sinks.clickhouse import ClickHouseSink
    from sinks.errors import SinkError
    from streams.assessment import assess, load_scoring
    from streams.assessment import store as store_scores
    from streams.assessment.errors import AssessmentError
    from streams.assessment.report import write_report
    from streams.core.registry import UnitRegistry
    from streams.health.monitor import HealthMonitor, now_ms
    from streams.health.report import build_report

    started = time.perf_counter()
    settings = load_settings()
    try:
        registry = UnitRegistry.load(settings.units_path)
        scoring = load_scoring(settings)
    except EmcError as exc:
        raise click.ClickException(str(exc)) from exc
    sink = ClickHouseSink(settings.clickhouse_dsn(), settings.clickhouse.database)
    steps = 8 + (2 if compare else 0)
    try:
        with Progress(transient=True, console=None) as bar:
            task = bar.add_task("connecting", total=steps)

            def step(name: str) -> None:
                bar.update(task, description=name, advance=1)

            try:
                sink.ensure_schema()
            except SinkError as exc:
                embedded = settings.clickhouse_dsn().startswith("chdb://")
                if embedded and any(m in str(exc) for m in _LOCKED_MARKERS):
                    raise click.ClickException(
                        f"the embedded ClickHouse store ({settings.redacted_clickhouse_dsn()}) "
                        "is held by another process (a running worker?). Stop it, or serve the "
                        "store with `python -m tools.chdb_http` and set EMC_CLICKHOUSE__DSN."
                    ) from exc
                raise click.ClickException(f"ClickHouse: {exc}") from exc
            try:
                result = assess(sink, registry, period, scoring, step, rollup=rollup)
                other = None
                if compare is not None:
                    as_of = period.end_ms - 1
                    other = assess(sink, registry, compare, scoring, rollup=rollup, as_of_ms=as_of)
                    step(f"compare {compare.label}")
            except AssessmentError as exc:
                raise click.ClickException(str(exc)) from exc
            if store:
                store_scores(sink, result)
                if other is not None:
                    store_scores(sink, other)
            step("connection status")
            monitor = HealthMonitor(sink, settings, registry)
            at = min(now_ms(), period.end_ms - 1)
            appendix = build_report(monitor, at)
            files = write_report(result, appendix, out_dir, lang, other, step)
            bar.update(task, completed=steps)
    finally:
        sink.close()
    elapsed = time.perf_counter() - started
    click.echo(f"{period.label}: {len(result.results)} units in {elapsed:.1f} s", err=True)
    for path in (files.html, files.xlsx, *files.charts):
        click.echo(str(path))
    if not store:
        click.echo("(not stored in emc.unit_scores: --no-store)", file=sys.stderr)
