"""``emc import catalogue|accounts UNIT FILE.xlsx`` and ``emc status``.

Both reach ClickHouse directly (a server DSN, or the embedded engine when no worker holds it).
When a running worker holds the embedded engine (chdb: one process per data path), they ask that
worker over its HTTP server (``EMC_URL``, else ``EMC_WEB__HOST``/``EMC_WEB__PORT``; routes in
streams.health), with the access token in ``EMC_TOKEN`` (a national token) when the worker's web
server requires one; if the worker does not answer either, they stop with what to do.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from sinks.clickhouse import ClickHouseSink
from sinks.errors import SinkError
from streams.cli.settings import load_settings
from streams.core.errors import EmcError
from streams.core.localtime import parse_local
from streams.health.statuses import STATUSES
from streams.settings import Settings

_LOCKED_MARKERS = ("Cannot lock file", "Error initializing EmbeddedServer")


def _worker_url(settings: Settings) -> str:
    if os.environ.get("EMC_URL"):
        return os.environ["EMC_URL"].rstrip("/")
    host = settings.web.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"http://{host}:{settings.web.port}"


def _open_monitor(settings: Settings) -> Any:
    """A :class:`~streams.health.HealthMonitor` on a direct connection, or ``None`` when the
    embedded engine is locked by another process."""
    from streams.core.registry import UnitRegistry
    from streams.health.monitor import HealthMonitor

    sink = ClickHouseSink(settings.clickhouse_dsn(), settings.clickhouse.database)
    try:
        sink.ensure_schema()
    except SinkError as exc:
        sink.close()
        embedded = settings.clickhouse_dsn().startswith("chdb://")
        if embedded and any(m in str(exc) for m in _LOCKED_MARKERS):
            return None
        raise click.ClickException(f"ClickHouse: {exc}") from exc
    return HealthMonitor(sink, settings, UnitRegistry.load(settings.units_path))


def _ask_worker(settings: Settings, method: str, path: str, body: Any = None) -> Any:
    url = _worker_url(settings) + path
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    token = os.environ.get("EMC_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        raise click.ClickException(f"the worker refused {path}: {exc.code} {detail}") from exc
    except OSError as exc:
        raise click.ClickException(
            f"the embedded ClickHouse store ({settings.redacted_clickhouse_dsn()}) is held by "
            f"another process and no worker answers at {_worker_url(settings)} ({exc}). Stop "
            "that process, point EMC_WEB__HOST/EMC_WEB__PORT at the running worker, or use a "
            "ClickHouse server (EMC_CLICKHOUSE__DSN=http://…)."
        ) from exc


def _parse_time(text: str) -> int:
    """Epoch ms of an ISO time; without an offset it is Asia/Ho_Chi_Minh local time."""
    try:
        return parse_local(text)
    except ValueError as exc:
        raise click.BadParameter(f"{text!r}: use ISO 8601, e.g. 2024-01-18T08:30") from exc


@click.group("import")
def import_command() -> None:
    """Import a unit's reference data from seed 004's Excel templates (.xlsx)."""


def _import(kind: str, unit: str, file: Path) -> None:
    from streams.core.registry import UnitRegistry
    from streams.health.errors import ImportValidationError
    from streams.health.imports import parse_file

    settings = load_settings()
    registry = UnitRegistry.load(settings.units_path)
    if unit not in registry:
        raise click.ClickException(f"unknown unit code {unit!r} (see {settings.units_path})")
    rows_hint = _row_count_hint(file)
    with click.progressbar(length=rows_hint, label=f"reading {file.name}", file=sys.stderr) as bar:
        step: Callable[[int], None] = bar.update
        try:
            parsed = parse_file(kind, file, step)  # type: ignore[arg-type]
        except ImportValidationError as exc:
            bar.render_finish()
            raise click.ClickException(str(exc)) from exc
    monitor = _open_monitor(settings)
    if monitor is None:
        answer = _ask_worker(
            settings, "POST", "/emc/health/import", {"unit_code": unit, "file": parsed.to_json()}
        )
        version = int(answer["version"])
        via = f" (through the worker at {_worker_url(settings)})"
    else:
        try:
            version = monitor.import_file(unit, parsed)
        except EmcError as exc:
            raise click.ClickException(str(exc)) from exc
        finally:
            monitor.sink.close()
        via = ""
    click.echo(
        f"imported {len(parsed.items)} {kind} rows for {unit} from {file.name} as version "
        f"{version}{via}"
    )


def _row_count_hint(file: Path) -> int:
    """Rows the sheet declares (for the progress bar); 1 when unknown."""
    try:
        from openpyxl import load_workbook

        book = load_workbook(file, read_only=True)
        rows = book.worksheets[0].max_row or 1
        book.close()
        return max(1, int(rows))
    except Exception:  # unreadable files are reported by the parser
        return 1


@import_command.command("catalogue")
@click.argument("unit")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_catalogue(unit: str, file: Path) -> None:
    """Service catalogue of UNIT (columns Name, Level, Url, ID CDVCQG, ID MCDT)."""
    _import("catalogue", unit, file)


@import_command.command("accounts")
@click.argument("unit")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_accounts(unit: str, file: Path) -> None:
    """Account list of UNIT (columns ID_local, ID_QG, TYPE, CREATDATE_USER, LAST_LOGIN)."""
    _import("accounts", unit, file)


class _StatusGroup(click.Group):
    """``emc status`` with its subcommands; ``emc status UNIT`` is ``emc status history UNIT``."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            return "history", self.commands["history"], args
        return super().resolve_command(ctx, args)


@click.group("status", cls=_StatusGroup, invoke_without_command=True)
@click.option("--at", "at", default=None, help="Status at a past instant (ISO; local time).")
@click.option(
    "--kind", "kinds", multiple=True, type=click.Choice(["ministry", "province"]), help="Filter."
)
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(list(STATUSES)),
    help="Filter (repeatable).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "xlsx", "html"]),
    default="table",
    show_default=True,
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file (required for xlsx).",
)
@click.pass_context
def status_command(
    ctx: click.Context,
    at: str | None,
    kinds: tuple[str, ...],
    statuses: tuple[str, ...],
    fmt: str,
    output: Path | None,
) -> None:
    """The connection status of every unit: seed 001's appendix table, from live data.

    Without a subcommand, prints the table; ``emc status UNIT`` prints one unit's status history
    with its reminder letters; ``set`` and ``clear`` manage operator-set statuses."""
    if ctx.invoked_subcommand is not None:
        return
    from streams.health.monitor import now_ms
    from streams.health.report import (
        ReportRow,
        build_report,
        filter_rows,
        render_csv,
        render_html,
        render_table,
        render_xlsx,
    )

    if fmt == "xlsx" and output is None:
        raise click.UsageError("--format xlsx needs --output FILE.xlsx")
    settings = load_settings()
    at_ms = None if at is None else _parse_time(at)
    monitor = _open_monitor(settings)
    if monitor is None:
        query = "" if at_ms is None else f"?at_ms={at_ms}"
        answer = _ask_worker(settings, "GET", f"/emc/health/status{query}")
        rows = [ReportRow(**r) for r in answer["rows"]]
    else:
        try:
            rows = build_report(monitor, at_ms)
        except EmcError as exc:
            raise click.ClickException(str(exc)) from exc
        finally:
            monitor.sink.close()
    rows = filter_rows(rows, kinds, statuses)
    when = now_ms() if at_ms is None else at_ms
    if fmt == "xlsx":
        assert output is not None
        render_xlsx(rows, when, output)
        click.echo(f"wrote {len(rows)} units to {output}", err=True)
        return
    text = {"table": render_table, "html": render_html}.get(fmt)
    content = render_csv(rows) if text is None else text(rows, when)
    if output is None:
        click.echo(content, nl=False)
    else:
        output.write_text(content, encoding="utf-8")
        click.echo(f"wrote {len(rows)} units to {output}", err=True)


def _override_call(
    settings: Settings, path: str, body: dict[str, Any], direct: Callable[[Any], Any]
) -> Any:
    """Run ``direct(monitor)`` on a direct connection, else POST ``body`` to the worker."""
    monitor = _open_monitor(settings)
    if monitor is None:
        return _ask_worker(settings, "POST", path, body), True
    try:
        return direct(monitor), False
    except EmcError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        monitor.sink.close()


@status_command.command("set")
@click.argument("unit")
@click.option(
    "--status",
    "status",
    type=click.Choice(list(STATUSES)),
    default="coordinating",
    show_default=True,
    help="The status to impose (coordinating = Đã kết nối, đang phối hợp xử lý).",
)
@click.option("--reason", required=True, help="Why (shown in the report and the history).")
@click.option("--author", required=True, help="Who sets it.")
@click.option("--from", "start", default=None, help="Start (ISO; local time); default now.")
@click.option("--until", "until", default=None, help="End (ISO; local time); default open-ended.")
def status_set(
    unit: str, status: str, reason: str, author: str, start: str | None, until: str | None
) -> None:
    """Set an operator status for UNIT: it wins over the computed status while in force."""
    from dataclasses import asdict

    settings = load_settings()
    start_ms = None if start is None else _parse_time(start)
    end_ms = None if until is None else _parse_time(until)
    body = {
        "unit_code": unit,
        "status": status,
        "reason": reason,
        "author": author,
        "start_ms": start_ms,
        "end_ms": end_ms,
    }
    answer, remote = _override_call(
        settings,
        "/emc/health/override",
        body,
        lambda m: {
            "override": asdict(m.set_override(unit, status, reason, author, start_ms, end_ms))
        },
    )
    o = answer["override"]
    from streams.core.localtime import format_local

    until_text = f" until {format_local(o['end_ms'])}" if o["end_ms"] is not None else ""
    click.echo(
        f"{unit}: {status} from {format_local(o['start_ms'])}{until_text} "
        f"(override {o['override_id']}{', through the worker' if remote else ''})"
    )


@status_command.command("clear")
@click.argument("unit")
@click.option("--author", default="operator", show_default=True, help="Who clears it.")
def status_clear(unit: str, author: str) -> None:
    """End UNIT's operator statuses now: the computed status applies again."""
    from dataclasses import asdict

    settings = load_settings()
    answer, _ = _override_call(
        settings,
        "/emc/health/override/clear",
        {"unit_code": unit, "author": author},
        lambda m: {"cleared": [asdict(o) for o in m.clear_override(unit, author)]},
    )
    click.echo(f"{unit}: {len(answer['cleared'])} override(s) cleared")


@status_command.command("history")
@click.argument("unit")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
def status_history(unit: str, fmt: str) -> None:
    """UNIT's status periods and the reminder letters sent to it (emc remind), oldest first."""
    from dataclasses import asdict

    from streams.core.localtime import format_local
    from streams.core.registry import UnitRegistry

    settings = load_settings()
    registry = UnitRegistry.load(settings.units_path)
    known = registry.get(unit)
    if known is None:
        raise click.ClickException(f"unknown unit code {unit!r} (see {settings.units_path})")
    monitor = _open_monitor(settings)
    if monitor is None:
        periods = _ask_worker(settings, "GET", f"/emc/health/history?unit={unit}")["periods"]
        letters = _ask_worker(settings, "GET", f"/emc/health/letters?unit={unit}")["letters"]
    else:
        try:
            periods = [asdict(p) for p in monitor.history(unit)]
            letters = [_letter_json(x) for x in monitor.letters(unit)]
        except EmcError as exc:
            raise click.ClickException(str(exc)) from exc
        finally:
            monitor.sink.close()
    if fmt == "json":
        click.echo(json.dumps({"periods": periods, "letters": letters}, ensure_ascii=False))
        return
    from streams.health.statuses import STATUS_LABELS

    entries: list[tuple[int, int, str]] = []
    for p in periods:
        until = format_local(p["to_ms"]) if p["to_ms"] is not None else "…"
        label = STATUS_LABELS.get(p["status"], p["status"])
        line = f"{format_local(p['from_ms'])} – {until:16}  {label}: {p['reason']}"
        entries.append((int(p["from_ms"]), 0, line))
    for x in letters:
        line = (
            f"{format_local(x['as_of_ms'])}  công văn {x['number']} ({x['status_label']}), "
            f"hạn {x['deadline']}, {x['author']}, soạn {format_local(x['created_at_ms'])}: "
            f"{x['docx_path'] or x['html_path']}"
        )
        entries.append((int(x["as_of_ms"]), 1, line))
    click.echo(f"{unit} — {known.name_vi}")
    if not entries:
        click.echo("(no status period and no letter recorded yet)")
    for _, _, line in sorted(entries):
        click.echo(line)


def _letter_json(x: Any) -> dict[str, Any]:
    """A :class:`~streams.health.letters.LetterRecord` as JSON-ready values."""
    from dataclasses import asdict

    out = asdict(x)
    out["deadline"] = x.deadline.isoformat()
    return out
