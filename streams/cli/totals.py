"""``emc totals import FILE`` and ``emc totals list [UNIT]``: units' own reported totals.

The file is validated whole here (every bad cell listed, nothing written if any row is bad),
then written directly, or through the running worker when it holds the embedded store (like
``emc import``). Writing re-evaluates the statuses, so a unit off by more than the tolerance is
"Đã kết nối, cần đối soát số liệu" at once.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from streams.cli.health import _ask_worker, _open_monitor, _worker_url
from streams.cli.settings import load_settings
from streams.core.errors import EmcError


@click.group("totals")
def totals() -> None:
    """Units' own totals per period, compared with EMC's counts."""


@totals.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def totals_import(file: Path) -> None:
    """Import reported totals from FILE (.xlsx or .csv; columns Mã đơn vị, Kỳ báo cáo, Tiếp
    nhận, Tiếp nhận trực tuyến, Trực tuyến từ xa, Đã giải quyết, Giải quyết đúng hạn)."""
    from streams.core.registry import UnitRegistry
    from streams.health.errors import ImportValidationError
    from streams.health.monitor import now_ms
    from streams.health.totals import parse_totals_file

    settings = load_settings()
    registry = UnitRegistry.load(settings.units_path)
    with click.progressbar(
        length=_lines(file), label=f"reading {file.name}", file=sys.stderr
    ) as bar:
        try:
            reports = parse_totals_file(file, registry, now_ms(), bar.update)
        except ImportValidationError as exc:
            bar.render_finish()
            raise click.ClickException(str(exc)) from exc
    monitor = _open_monitor(settings)
    if monitor is None:
        answer = _ask_worker(
            settings,
            "POST",
            "/emc/health/totals",
            {"reports": [r.to_json() for r in reports], "file_name": file.name},
        )
        rows, statuses = int(answer["rows"]), answer["statuses"]
        via = f" (through the worker at {_worker_url(settings)})"
    else:
        try:
            rows, found = monitor.record_totals(reports, "import", file.name)
        except EmcError as exc:
            raise click.ClickException(str(exc)) from exc
        finally:
            monitor.sink.close()
        statuses = [{"unit_code": s.unit_code, "status_label": s.status_label,
                     "reason": s.reason} for s in found]  # fmt: skip
        via = ""
    click.echo(f"imported {len(reports)} reports ({rows} counts) from {file.name}{via}")
    for s in statuses:
        click.echo(f"  {s['unit_code']}: {s['status_label']} — {s['reason']}")


@totals.command("list")
@click.argument("unit", required=False)
def totals_list(unit: str | None) -> None:
    """The latest comparison of each reported period and measure: EMC, reported, difference."""
    settings = load_settings()
    monitor = _open_monitor(settings)
    if monitor is None:
        query = "" if unit is None else f"?unit={unit}"
        rows: list[dict[str, Any]] = _ask_worker(settings, "GET", f"/emc/health/totals{query}")[
            "differences"
        ]
    else:
        try:
            rows = [d.to_json() for d in monitor.differences(unit)]
        finally:
            monitor.sink.close()
    if not rows:
        click.echo("no reported totals" + ("" if unit is None else f" for {unit}"))
        return
    click.echo(
        f"{'unit':<16} {'period':<23} {'measure':<17} {'EMC':>8} {'reported':>9} "
        f"{'diff':>7} {'diff %':>7}  within tolerance"
    )
    for r in rows:
        rel = r["relative_difference"]
        pct = "-" if rel is None else f"{100 * rel:+.1f}"
        click.echo(
            f"{r['unit_code']:<16} {r['period']:<23} {r['measure']:<17} {r['emc_value']:>8} "
            f"{r['reported_value']:>9} {r['difference']:>+7} {pct:>7}  "
            f"{'yes' if r['within_tolerance'] else 'NO'}"
        )


def _lines(file: Path) -> int:
    """Rows to read, for the progress bar (a CSV's lines; an .xlsx's rows are not counted)."""
    if file.suffix.lower() == ".csv":
        return max(1, file.read_bytes().count(b"\n"))
    return 1
