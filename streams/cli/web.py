"""``emc token …`` and ``emc top``: access tokens and the terminal view of the live table."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
from typing import Any

import click

from streams.cli.settings import load_settings
from streams.core.errors import EmcError
from streams.core.localtime import format_local
from streams.settings import Settings
from streams.web.auth import TokenRecord
from streams.web.errors import TokenError
from streams.web.server import token_store


def _when(ms: int | None) -> str:
    if not ms:
        return "-"
    return format_local(ms) + " +07"


@click.group("token")
def token() -> None:
    """Access tokens for the dashboard, the API and `emc top` (kept in EMC_DATA_DIR).

    Works while the worker runs: it re-reads the token file when it changes.
    """


@token.command("issue")
@click.option("--role", type=click.Choice(["national", "unit"]), required=True)
@click.option("--unit", "unit_code", default=None, help="Unit code (required for --role unit).")
@click.option("--name", default="", help="Who or what the token is for.")
def issue(role: str, unit_code: str | None, name: str) -> None:
    """Issue a token and print it (once: only its hash is stored)."""
    settings = load_settings()
    if unit_code is not None:
        from streams.core.registry import UnitRegistry

        try:
            registry = UnitRegistry.load(settings.units_path)
        except EmcError as exc:
            raise click.ClickException(str(exc)) from exc
        if unit_code not in registry:
            raise click.ClickException(f"unknown unit code {unit_code!r} ({settings.units_path})")
    try:
        record, plaintext = token_store(settings).issue(role, unit_code, name)
    except TokenError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"id:    {record.id}", err=True)
    click.echo(
        f"role:  {record.role}{' ' + record.unit_code if record.unit_code else ''}", err=True
    )
    click.echo("token (shown once; store it now):", err=True)
    click.echo(plaintext)


@token.command("revoke")
@click.argument("token_id")
def revoke(token_id: str) -> None:
    """Revoke a token by its id (see `emc token list`); it stops working at once."""
    try:
        record = token_store(load_settings()).revoke(token_id)
    except TokenError as exc:
        raise click.ClickException(str(exc)) from exc
    who = f"{record.role} {record.unit_code or ''}".strip()
    click.echo(f"revoked {record.id} ({who}) at {_when(record.revoked_at_ms)}")


@token.command("list")
def list_tokens() -> None:
    """List tokens (ids, roles, units, names, state), never their values."""
    try:
        records = token_store(load_settings()).records()
    except TokenError as exc:
        raise click.ClickException(str(exc)) from exc
    rows = [("id", "role", "unit", "name", "created", "state")]
    for r in records:
        state = "active" if r.active else f"revoked {_when(r.revoked_at_ms)}"
        rows.append((r.id, r.role, r.unit_code or "-", r.name, _when(r.created_at_ms), state))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def issue_run_token(settings: Settings) -> str:
    """A national token for this `emc run` (revoked again when the process exits)."""
    store = token_store(settings)
    record: TokenRecord
    record, plaintext = store.issue("national", None, f"emc run (pid {os.getpid()})")

    def _revoke() -> None:
        with contextlib.suppress(TokenError, OSError):
            store.revoke(record.id)

    atexit.register(_revoke)
    return plaintext


@click.command("top")
@click.option(
    "--url",
    envvar="EMC_URL",
    default=None,
    help="Worker URL [env EMC_URL; default from EMC_WEB__HOST/PORT].",
)
@click.option(
    "--token", "token_value", envvar="EMC_TOKEN", default=None, help="Access token [env EMC_TOKEN]."
)
@click.option(
    "--sort", default="received_60m", show_default=True, help="Any sort key of /emc/api/units."
)
@click.option("--order", type=click.Choice(["asc", "desc"]), default="desc", show_default=True)
@click.option("--kind", type=click.Choice(["ministry", "province"]), default=None)
@click.option("--filter", "q", default=None, help="Search unit codes and names.")
@click.option("--silent", is_flag=True, help="Only units that went silent.")
@click.option("--rows", type=int, default=None, help="Rows to show (default: fits the terminal).")
@click.option(
    "--interval", type=float, default=1.0, show_default=True, help="Seconds between refreshes."
)
@click.option("--iterations", type=int, default=None, help="Stop after this many refreshes.")
@click.option("--lang", type=click.Choice(["vi", "en"]), default="vi", show_default=True)
def top(
    url: str | None,
    token_value: str | None,
    sort: str,
    order: str,
    kind: str | None,
    q: str | None,
    silent: bool,
    rows: int | None,
    interval: float,
    iterations: int | None,
    lang: str,
) -> None:
    """The live unit table in the terminal, refreshed in place (Ctrl-C quits)."""
    from streams.web.top import TopError, TopQuery, run_top

    if not token_value:
        raise click.ClickException(
            "a token is needed: --token or EMC_TOKEN (see `emc token issue`)"
        )
    if url is None:
        web = load_settings().web
        url = f"http://{web.host}:{web.port}"
    limit = rows or max(5, shutil.get_terminal_size((120, 40)).lines - 7)
    query = TopQuery(sort=sort, order=order, kind=kind, q=q, silent=silent, limit=min(limit, 500))
    try:
        run_top(url, token_value, query, interval_s=interval, iterations=iterations, lang=lang)
    except TopError as exc:
        raise click.ClickException(str(exc)) from exc
    except KeyboardInterrupt:
        pass


COMMANDS: tuple[Any, ...] = (token, top)
"""The commands `emc` adds from this module."""
