"""The JSON API under ``/emc/api/`` (described by ``/emc/api/openapi.json``).

Every endpoint but the OpenAPI document needs a token: ``Authorization: Bearer <token>`` or the
``emc_token`` cookie the pages set. Without a valid token the answer is 401; a ``unit`` token
asking for another unit gets 403. Neither carries data.

Handlers run on the worker's event loop: live numbers are read from memory there (cheap),
ClickHouse is queried in an executor thread (:mod:`streams.web.live`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Final

import orjson
from aiohttp import web

from sinks.errors import SinkError
from streams.assessment.assess import read_scores
from streams.core.periods import parse_period
from streams.core.registry import UnitRegistry
from streams.core.windows import WINDOW_SIZES_MS
from streams.web.auth import Principal, TokenStore
from streams.web.live import ROW_NUMBER_FIELDS, LiveTable, fold, status_json
from streams.web.openapi import openapi_document

if TYPE_CHECKING:
    from streams.health.monitor import HealthMonitor

COOKIE_NAME: Final = "emc_token"
MAX_PAGE: Final = 500
DEFAULT_SILENT_AFTER_S: Final = 300
SORT_KEYS: Final[tuple[str, ...]] = (
    "unit_code",
    "name_vi",
    "kind",
    "last_receipt_at_ms",
    "status",
    "rejected",
    *ROW_NUMBER_FIELDS,
)
HISTORY_DEFAULT_SPAN_MS: Final[dict[str, int]] = {
    "1m": 3 * 3_600_000,
    "1h": 7 * 86_400_000,
    "1d": 90 * 86_400_000,
}
"""How far back ``/windows`` reaches when ``from_ms`` is not given, per window."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON response that is never cached (it carries live, per-token data)."""
    return web.Response(
        body=orjson.dumps(data),
        status=status,
        content_type="application/json",
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def error_response(status: int, message: str) -> web.Response:
    headers = {"WWW-Authenticate": 'Bearer realm="emc"'} if status == 401 else None
    return json_response({"error": message}, status=status, headers=headers)


def request_token(request: web.Request) -> str | None:
    """The token a request carries: the bearer header first, then the cookie."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    cookie = request.cookies.get(COOKIE_NAME)
    return cookie or None


class BadRequest(Exception):
    """A query parameter is invalid (answered with 400)."""


def _int_param(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer") from None
    if not lo <= value <= hi:
        raise BadRequest(f"{name} must be between {lo} and {hi}")
    return value


def _bool_param(request: web.Request, name: str) -> bool | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() in ("1", "true", "yes"):
        return True
    if raw.lower() in ("0", "false", "no"):
        return False
    raise BadRequest(f"{name} must be true or false")


def _choice_param(request: web.Request, name: str, choices: tuple[str, ...], default: str) -> str:
    raw = request.query.get(name) or default
    if raw not in choices:
        raise BadRequest(f"{name} must be one of {', '.join(choices)}")
    return raw


def is_silent(row: dict[str, Any], now: int, silent_after_ms: int) -> bool:
    """Received something in the last 30 days, but nothing for ``silent_after_ms``."""
    last = row["last_receipt_at_ms"]
    return bool(row["received_30d"] and last is not None and now - last > silent_after_ms)


def _sort_value(row: dict[str, Any], key: str) -> Any:
    value = row.get(key)
    if key == "name_vi" and isinstance(value, str):
        return fold(value)
    return value


@dataclass
class Api:
    """The API's handlers, bound to the worker's live table, registry and tokens."""

    live: LiveTable
    registry: UnitRegistry
    tokens: TokenStore
    health: HealthMonitor | None = None
    """Connection health (operator overrides, rejects); ``None`` when the worker has none."""

    async def _health_call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a blocking :class:`HealthMonitor` call off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.live.executor, lambda: fn(*args, **kwargs))

    def principal(self, request: web.Request) -> Principal | None:
        return self.tokens.authenticate(request_token(request))

    def guarded(
        self, handler: Callable[[web.Request, Principal], Awaitable[web.Response]]
    ) -> Handler:
        """Wrap a handler: 401 without a valid token, 400 for bad parameters."""

        async def run(request: web.Request) -> web.StreamResponse:
            principal = self.principal(request)
            if principal is None:
                return error_response(401, "a valid token is required")
            try:
                return await handler(request, principal)
            except BadRequest as exc:
                return error_response(400, str(exc))
            except SinkError as exc:
                return error_response(503, f"ClickHouse is unavailable: {exc}")

        run.__name__ = handler.__name__
        return run

    async def openapi(self, request: web.Request) -> web.StreamResponse:
        return json_response(openapi_document())

    async def ping(self, request: web.Request) -> web.StreamResponse:
        """Liveness without a token (for container health checks): no data at all."""
        return json_response({"ok": True})

    async def me(self, request: web.Request, principal: Principal) -> web.Response:
        return json_response(principal.as_json())

    async def units(self, request: web.Request, principal: Principal) -> web.Response:
        now = now_ms()
        query = fold(request.query.get("q", "").strip())
        kind = request.query.get("kind") or None
        if kind is not None and kind not in ("ministry", "province"):
            raise BadRequest("kind must be ministry or province")
        status_filter = request.query.get("status") or None
        silent_filter = _bool_param(request, "silent")
        with_trend = bool(_bool_param(request, "trend"))
        sort = _choice_param(request, "sort", SORT_KEYS, "received_60m")
        order = _choice_param(request, "order", ("asc", "desc"), "desc")
        offset = _int_param(request, "offset", 0, 0, 10_000_000)
        limit = _int_param(request, "limit", 50, 1, MAX_PAGE)
        silent_after_ms = 1000 * _int_param(
            request, "silent_after_s", DEFAULT_SILENT_AFTER_S, 1, 30 * 86_400
        )
        available, statuses = await self.live.statuses()
        rows = await self.live.rows(now)
        picked: list[dict[str, Any]] = []
        totals = {"units": 0, "active_60m": 0, "silent": 0, "received_60m": 0, "online_60m": 0}
        for shared in rows:
            code = shared["unit_code"]
            if not principal.may_see(code):
                continue
            if kind and shared["kind"] != kind:
                continue
            if status_filter and shared["status"] != status_filter:
                continue
            if query and query not in self.live.search_key(code):
                continue
            silent = is_silent(shared, now, silent_after_ms)
            if silent_filter is not None and silent != silent_filter:
                continue
            row = dict(shared)
            row["silent"] = silent
            picked.append(row)
            totals["units"] += 1
            totals["active_60m"] += row["received_60m"] > 0
            totals["silent"] += silent
            totals["received_60m"] += row["received_60m"]
            totals["online_60m"] += row["online_60m"]
        present = [r for r in picked if r.get(sort) is not None]
        absent = [r for r in picked if r.get(sort) is None]
        present.sort(key=lambda r: _sort_value(r, sort), reverse=order == "desc")
        ordered = present + absent
        page = ordered[offset : offset + limit]
        if with_trend:
            trends = await self.live.trends([r["unit_code"] for r in page], now)
            for row in page:
                row["trend"] = trends.get(row["unit_code"], [])
        return json_response(
            {
                "now_ms": now,
                "total": len(ordered),
                "offset": offset,
                "limit": limit,
                "sort": sort,
                "order": order,
                "statuses_available": available,
                "status_values": sorted({s.status for s in statuses.values()}),
                "status_labels": {s.status: s.status_label or s.status for s in statuses.values()},
                "totals": totals,
                "rows": page,
            }
        )

    def _visible_unit(self, request: web.Request, principal: Principal) -> str | web.Response:
        code = request.match_info["unit_code"]
        if not principal.may_see(code):
            return error_response(403, "this token may not read that unit")
        if code not in self.registry:
            return error_response(404, f"unknown unit {code}")
        return code

    async def unit(self, request: web.Request, principal: Principal) -> web.Response:
        code = self._visible_unit(request, principal)
        if isinstance(code, web.Response):
            return code
        now = now_ms()
        rows = await self.live.rows(now)
        row = dict(rows[self.registry.index_of(code)])
        available, _ = await self.live.statuses()
        silent_after_ms = 1000 * _int_param(
            request, "silent_after_s", DEFAULT_SILENT_AFTER_S, 1, 30 * 86_400
        )
        row["silent"] = is_silent(row, now, silent_after_ms)
        row["trend"] = (await self.live.trends([code], now)).get(code, [])
        return json_response({"now_ms": now, "statuses_available": available, "unit": row})

    async def windows(self, request: web.Request, principal: Principal) -> web.Response:
        code = self._visible_unit(request, principal)
        if isinstance(code, web.Response):
            return code
        window = _choice_param(request, "window", tuple(WINDOW_SIZES_MS), "1m")
        now = now_ms()
        to_ms = _int_param(request, "to_ms", now + WINDOW_SIZES_MS[window], 0, 2**53)
        from_ms = _int_param(request, "from_ms", to_ms - HISTORY_DEFAULT_SPAN_MS[window], 0, 2**53)
        limit = _int_param(request, "limit", 500, 1, 5000)
        rows = await self.live.windows_history(code, window, from_ms, to_ms, limit)
        return json_response(
            {"unit_code": code, "window": window, "from_ms": from_ms, "to_ms": to_ms, "rows": rows}
        )

    async def rejects(self, request: web.Request, principal: Principal) -> web.Response:
        """A unit's rejected records from ``emc.dead_letters``: counts by reason and the latest
        ones (a unit token sees only its own unit's)."""
        code = self._visible_unit(request, principal)
        if isinstance(code, web.Response):
            return code
        limit = _int_param(request, "limit", 50, 1, 1000)
        return json_response(await self.live.unit_rejects(code, limit))

    async def history(self, request: web.Request, principal: Principal) -> web.Response:
        """A unit's status history (``emc.unit_status_history``) and the reminder letters sent
        to it (``emc.unit_letters``, without the server's file paths), oldest first; a unit token
        sees only its own unit's."""
        from streams.health.statuses import STATUS_LABELS

        code = self._visible_unit(request, principal)
        if isinstance(code, web.Response):
            return code
        if self.health is None:
            return error_response(503, "connection health is not available on this worker")
        periods = await self._health_call(self.health.history, code)
        letters = await self._health_call(self.health.letters, code)
        return json_response(
            {
                "unit_code": code,
                "periods": [
                    {**asdict(p), "status_label": STATUS_LABELS.get(p.status, p.status)}
                    for p in periods
                ],
                "letters": [
                    {
                        "letter_id": x.letter_id,
                        "number": x.number,
                        "status": x.status,
                        "status_label": x.status_label,
                        "reason_code": x.reason_code,
                        "reasons": [r.to_json() for r in x.reasons],
                        "since_ms": x.since_ms,
                        "as_of_ms": x.as_of_ms,
                        "deadline": x.deadline.isoformat(),
                        "created_at_ms": x.created_at_ms,
                        "author": x.author,
                    }
                    for x in letters
                ],
            }
        )

    async def scores(self, request: web.Request, principal: Principal) -> web.Response:
        """Stored assessment results (``emc.unit_scores``: indicators, QĐ 766 points, level,
        rank, targets met), newest period first; ``?period=2026-Q3`` for one period. A unit token
        sees its own unit's results only, a national token every unit's."""
        period = request.query.get("period") or None
        if period is not None:
            try:
                parse_period(period)
            except ValueError as exc:
                raise BadRequest(str(exc)) from exc
        unit = None if principal.role == "national" else principal.unit_code
        loop = asyncio.get_running_loop()
        rows = await loop.run_in_executor(
            self.live.executor, lambda: read_scores(self.live.sink, period, unit)
        )
        rows = [r for r in rows if principal.may_see(r["unit_code"])]
        return json_response({"period": period, "rows": rows})

    async def statuses(self, request: web.Request, principal: Principal) -> web.Response:
        available, statuses = await self.live.statuses()
        rows = [status_json(s) for code, s in sorted(statuses.items()) if principal.may_see(code)]
        return json_response({"available": available, "rows": rows})

    def _override_target(self, request: web.Request, principal: Principal) -> str | web.Response:
        if principal.role != "national":
            return error_response(403, "setting a unit's status needs a national token")
        if self.health is None:
            return error_response(503, "connection health is not available on this worker")
        code = request.match_info["unit_code"]
        if code not in self.registry:
            return error_response(404, f"unknown unit {code}")
        return code

    async def set_override(self, request: web.Request, principal: Principal) -> web.Response:
        """``POST /emc/api/units/{code}/status-override`` (national token): body
        ``{"status", "reason", "author", "start_ms"?, "end_ms"?}`` (times epoch ms)."""
        from streams.health.errors import HealthError

        code = self._override_target(request, principal)
        if isinstance(code, web.Response):
            return code
        assert self.health is not None
        try:
            body = await request.json()
            start, end = body.get("start_ms"), body.get("end_ms")
            override = await self._health_call(
                self.health.set_override,
                code,
                str(body["status"]),
                str(body["reason"]),
                str(body.get("author") or principal.name or "api"),
                None if start is None else int(start),
                None if end is None else int(end),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BadRequest(f"bad override body: {exc}") from exc
        except HealthError as exc:
            raise BadRequest(str(exc)) from exc
        return json_response({"override": asdict(override)})

    async def clear_override(self, request: web.Request, principal: Principal) -> web.Response:
        """``DELETE /emc/api/units/{code}/status-override`` (national token)."""
        code = self._override_target(request, principal)
        if isinstance(code, web.Response):
            return code
        assert self.health is not None
        author = request.query.get("author") or principal.name or "api"
        ended = await self._health_call(self.health.clear_override, code, author)
        return json_response({"cleared": [asdict(o) for o in ended]})

    def write_routes(self) -> list[tuple[str, str, Handler]]:
        """(method, path, handler) of every endpoint that changes something."""
        path = "/emc/api/units/{unit_code}/status-override"
        return [
            ("POST", path, self.guarded(self.set_override)),
            ("DELETE", path, self.guarded(self.clear_override)),
        ]

    def routes(self) -> list[tuple[str, Handler]]:
        """(path, handler) of every GET endpoint."""
        return [
            ("/emc/api/openapi.json", self.openapi),
            ("/emc/api/ping", self.ping),
            ("/emc/api/me", self.guarded(self.me)),
            ("/emc/api/units", self.guarded(self.units)),
            ("/emc/api/units/{unit_code}", self.guarded(self.unit)),
            ("/emc/api/units/{unit_code}/windows", self.guarded(self.windows)),
            ("/emc/api/units/{unit_code}/rejects", self.guarded(self.rejects)),
            ("/emc/api/units/{unit_code}/history", self.guarded(self.history)),
            ("/emc/api/statuses", self.guarded(self.statuses)),
            ("/emc/api/scores", self.guarded(self.scores)),
        ]
