"""``emc top``: the dashboard's live unit table in a terminal, refreshed in place.

Reads the worker's JSON API (``/emc/api/units``) with a token, so it works from any shell that
can reach the worker (an operator's SSH session on the server, through a tunnel, …) and shows
exactly what the token may see. Rendering uses :mod:`rich`.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from streams.core.localtime import format_local
from streams.web.errors import WebError

LABELS: dict[str, dict[str, str]] = {
    "vi": {
        "unit": "Đơn vị",
        "kind": "Loại",
        "ministry": "Bộ/ngành",
        "province": "Tỉnh/thành phố",
        "last": "Sự kiện gần nhất",
        "recv_1m": "TN 1'",
        "recv_60m": "TN 60'",
        "recv_24h": "TN 24h",
        "online_60m": "Trực tuyến 60'",
        "online_24h": "Trực tuyến 24h",
        "remote_60m": "Từ xa 60'",
        "remote_24h": "Từ xa 24h",
        "status": "Hiện trạng kết nối",
        "silent": "ngừng gửi",
        "header": "EMC — {units} đơn vị · {active} có hồ sơ trong 60 phút · {silent} ngừng gửi "
        "· {received} tiếp nhận 60 phút · cập nhật {time}",
    },
    "en": {
        "unit": "Unit",
        "kind": "Kind",
        "ministry": "Ministry",
        "province": "Province",
        "last": "Last event",
        "recv_1m": "Rcv 1m",
        "recv_60m": "Rcv 60m",
        "recv_24h": "Rcv 24h",
        "online_60m": "Online 60m",
        "online_24h": "Online 24h",
        "remote_60m": "Remote 60m",
        "remote_24h": "Remote 24h",
        "status": "Connection status",
        "silent": "silent",
        "header": "EMC — {units} units · {active} with receipts in 60 min · {silent} silent "
        "· {received} received in 60 min · updated {time}",
    },
}


class TopError(WebError):
    """``emc top`` cannot go on (token refused, bad URL)."""


@dataclass(frozen=True, slots=True)
class TopQuery:
    """What ``emc top`` asks the API for."""

    sort: str = "received_60m"
    order: str = "desc"
    kind: str | None = None
    q: str | None = None
    silent: bool = False
    limit: int = 30

    def params(self) -> dict[str, str]:
        params = {"sort": self.sort, "order": self.order, "limit": str(self.limit)}
        if self.kind:
            params["kind"] = self.kind
        if self.q:
            params["q"] = self.q
        if self.silent:
            params["silent"] = "true"
        return params


def fetch_units(base_url: str, token: str, query: TopQuery, timeout_s: float = 5.0) -> Any:
    """GET ``/emc/api/units`` with the token; :class:`TopError` on 401/403."""
    url = f"{base_url.rstrip('/')}/emc/api/units?{urllib.parse.urlencode(query.params())}"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise TopError(f"the worker refused the token ({exc.code})") from exc
        raise


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _ago(ms: int | None, now_ms: int) -> str:
    if ms is None:
        return "—"
    s = max(0, (now_ms - ms) // 1000)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h"
    return f"{s // 86400} d"


def _local_time(ms: int) -> str:
    return format_local(ms, "%H:%M:%S")


def render(data: dict[str, Any], lang: str = "vi") -> Group:
    """The header line and the table for one API answer."""
    labels = LABELS[lang]
    totals = data["totals"]
    header = Text(
        labels["header"].format(
            units=f"{totals['units']:,}",
            active=f"{totals['active_60m']:,}",
            silent=f"{totals['silent']:,}",
            received=f"{totals['received_60m']:,}",
            time=_local_time(data["now_ms"]),
        ),
        style="bold",
    )
    table = Table(expand=False, pad_edge=False, header_style="bold cyan")
    table.add_column(labels["unit"], no_wrap=True, max_width=34)
    table.add_column(labels["kind"], no_wrap=True)
    table.add_column(labels["last"], justify="right")
    for key in ("recv_1m", "recv_60m", "recv_24h"):
        table.add_column(labels[key], justify="right")
    for key in ("online_60m", "online_24h", "remote_60m", "remote_24h"):
        table.add_column(labels[key], justify="right")
    table.add_column(labels["status"], no_wrap=True)
    now = data["now_ms"]
    for row in data["rows"]:
        name = f"{row['name_vi']} ({row['unit_code']})"
        if row["silent"]:
            name += f" [{labels['silent']}]"
        table.add_row(
            name,
            labels.get(row["kind"], row["kind"]),
            _ago(row["last_receipt_at_ms"], now),
            f"{row['received_1m']:,}",
            f"{row['received_60m']:,}",
            f"{row['received_24h']:,}",
            _pct(row["online_rate_60m"]),
            _pct(row["online_rate_24h"]),
            _pct(row["remote_rate_60m"]),
            _pct(row["remote_rate_24h"]),
            row.get("status") or "—",
            style="on dark_red" if row["silent"] else None,
        )
    return Group(header, table)


def run_top(
    base_url: str,
    token: str,
    query: TopQuery,
    *,
    interval_s: float = 1.0,
    iterations: int | None = None,
    lang: str = "vi",
    console: Console | None = None,
) -> None:
    """Refresh the table every ``interval_s`` seconds until Ctrl-C (or ``iterations`` times)."""
    console = console or Console()
    done = 0
    with Live(console=console, auto_refresh=False, transient=False) as live:
        while iterations is None or done < iterations:
            try:
                live.update(render(fetch_units(base_url, token, query), lang), refresh=True)
            except TopError:
                raise
            except (OSError, ValueError, KeyError) as exc:
                live.update(Text(f"{base_url}: {exc}", style="red"), refresh=True)
            done += 1
            if iterations is None or done < iterations:
                time.sleep(interval_s)
