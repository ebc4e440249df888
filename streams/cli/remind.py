"""``emc remind``: a reminder letter per unit (HTML and DOCX drafts in seed 000/001's form),
each recorded in ``emc.unit_letters`` and in the unit's status history.

Reads and writes ClickHouse directly: a server DSN, or the embedded store when no worker holds it
(chdb allows one process per data path). With a worker running on the embedded store, serve the
store with ``python -m tools.chdb_http`` and point both at it, or stop the worker first.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click

from streams.cli.settings import load_settings
from streams.core.errors import EmcError
from streams.health.letter_labels import LANGS

_LOCKED_MARKERS = ("Cannot lock file", "Error initializing EmbeddedServer")


def _codes(values: tuple[str, ...]) -> list[str]:
    return [c.strip() for v in values for c in v.split(",") if c.strip()]


def _date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r}: use YYYY-MM-DD") from exc


@click.command("remind")
@click.option(
    "--units",
    "units",
    multiple=True,
    help="Unit codes, comma-separated (repeatable), as in config/units.csv.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for <UNIT>.html and <UNIT>.docx (created).",
)
@click.option("--deadline", callback=_date, help="Deadline date (YYYY-MM-DD, local).")
@click.option(
    "--days",
    type=click.IntRange(1, 250),
    default=None,
    help="Deadline in working days after the letter's date "
    "[default: EMC_REMIND__DEADLINE_WORKING_DAYS, 10].",
)
@click.option(
    "--all-not-connected",
    is_flag=True,
    help="Also every unit in force whose status is not 'Đã kết nối toàn diện'.",
)
@click.option("--lang", type=click.Choice(list(LANGS)), default="vi", show_default=True)
@click.option(
    "--force",
    is_flag=True,
    help="Write a letter also for a fully connected unit with no rejected message "
    "(skipped otherwise).",
)
@click.option("--at", "at", default=None, help="As of this instant (ISO; local time); default now.")
@click.option("--author", default="operator", show_default=True, help="Who drafts the letters.")
def remind(
    units: tuple[str, ...],
    out_dir: Path,
    deadline: date | None,
    days: int | None,
    all_not_connected: bool,
    lang: str,
    force: bool,
    at: str | None,
    author: str,
) -> None:
    """A reminder letter per unit: its connection status, what is wrong and since when, and the
    deadline, as an HTML and a DOCX draft; each letter recorded in emc.unit_letters.

    Prints one line per letter (the unit, its status, the files); units left out (fully
    connected, nothing rejected) are named on stderr."""
    from rich.console import Console
    from rich.progress import Progress

    from sinks.clickhouse import ClickHouseSink
    from sinks.errors import SinkError
    from streams.core.localtime import parse_local
    from streams.core.registry import UnitRegistry
    from streams.health.letter_render import write_letter
    from streams.health.letters import draft_letters, record_letters, with_files
    from streams.health.monitor import HealthMonitor

    if deadline is not None and days is not None:
        raise click.UsageError("give --deadline or --days, not both")
    codes = _codes(units)
    if not codes and not all_not_connected:
        raise click.UsageError("name the units (--units CODE[,CODE...]) or --all-not-connected")
    try:
        as_of = None if at is None else parse_local(at)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--at") from exc
    settings = load_settings()
    try:
        registry = UnitRegistry.load(settings.units_path)
    except EmcError as exc:
        raise click.ClickException(str(exc)) from exc
    sink = ClickHouseSink(settings.clickhouse_dsn(), settings.clickhouse.database)
    written = 0
    try:
        try:
            sink.ensure_schema()
        except SinkError as exc:
            embedded = settings.clickhouse_dsn().startswith("chdb://")
            if embedded and any(m in str(exc) for m in _LOCKED_MARKERS):
                raise click.ClickException(
                    f"the embedded ClickHouse store ({settings.redacted_clickhouse_dsn()}) is "
                    "held by another process (a running worker?). Stop it, or serve the store "
                    "with `python -m tools.chdb_http` and set EMC_CLICKHOUSE__DSN."
                ) from exc
            raise click.ClickException(f"ClickHouse: {exc}") from exc
        monitor = HealthMonitor(sink, settings, registry)
        try:
            drafts = draft_letters(
                monitor, codes, all_not_connected=all_not_connected, as_of_ms=as_of,
                deadline=deadline, days=days, author=author, force=force, lang=lang,
            )  # fmt: skip
        except EmcError as exc:
            raise click.ClickException(str(exc)) from exc
        with Progress(console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("letters", total=len(drafts.letters))
            for letter in drafts.letters:
                bar.update(task, description=letter.unit_code)
                html_path, docx_path = write_letter(letter, settings.remind, out_dir)
                done = with_files(letter, str(html_path.resolve()), str(docx_path.resolve()))
                record_letters(sink, [done])
                written += 1
                bar.update(task, advance=1)
                click.echo(
                    f"{letter.unit_code}\t{letter.number}\t{letter.status_label}\t"
                    f"{html_path}\t{docx_path}"
                )
    finally:
        sink.close()
    for code, label in drafts.skipped.items():
        click.echo(
            f"{code}: {label} — no letter (nothing to remind of; --force writes one)",
            err=True,
        )
    click.echo(f"{written} letter(s) in {out_dir}, recorded in emc.unit_letters", file=sys.stderr)
