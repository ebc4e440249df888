"""The aiohttp application of ``emc ingest``: EMC's tracking call over HTTP.

Routes:

- ``POST /TrackingMCDT`` — one call, JSON object or form-encoded fields (``User`` then as a
  JSON string, as field clients send it);
- ``POST /TrackingMCDT/batch`` — a JSON array of calls (or ``{"calls": [...]}``) for systems
  that sync in bulk: all are validated first, and one bad call refuses the whole batch (the
  answer lists every bad call by index), so a batch is produced whole or not at all;
- ``GET /TrackingMCDT/ping`` — liveness for load balancers and health checks (no token).

Credentials are the unit tokens of :mod:`streams.web.auth` (``emc token issue --role unit
--unit CODE``), presented as ``Authorization: Bearer <token>``: a unit token may send for its own
unit only (the unit the call's SiteId maps to); a national token for any unit (a relay).

Answers: ``200 {"status": "success", ...}`` once the broker has acknowledged every event —
field clients judge success by the HTTP status alone (a C# client seen posting to EMC's
``/TrackingMCDT`` checks ``IsSuccessStatusCode`` only), so the body's shape is ours. A refused
call produces nothing and gets a 4xx whose JSON names the field at fault:
400 malformed body, 401 no or unknown token, 403 another unit's SiteId, 413 too large,
415 unsupported content type, 422 a field missing or invalid (``unknown_site`` included);
503 when the broker did not acknowledge in time (nothing is known to be durable: retry).

Stateless: every instance can serve any call, so instances scale behind a load balancer; the
derived event ids make a call retried on another instance count once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from streams.core.errors import EmcError
from streams.ingest.errors import TrackingCallError
from streams.ingest.sites import SiteMap
from streams.ingest.tracking import TrackedEvent, parse_call
from streams.kafka.produce import AcknowledgedProducer
from streams.web.auth import Principal, TokenStore

log = logging.getLogger("emc.ingest")

TRACKING_PATH = "/TrackingMCDT"
BATCH_PATH = "/TrackingMCDT/batch"
PING_PATH = "/TrackingMCDT/ping"


@dataclass(frozen=True, slots=True)
class IngestConfig:
    """What a request needs besides the call: limits (counts, bytes, seconds) and defaults."""

    max_batch: int = 1_000
    max_body_bytes: int = 4 * 1024 * 1024
    default_due_days: float | None = 15.0
    produce_timeout_s: float = 10.0


@dataclass(slots=True)
class IngestCounters:
    """Calls accepted and refused since start (refusals by HTTP status)."""

    accepted: int = 0
    refused: dict[int, int] | None = None

    def refuse(self, status: int) -> None:
        if self.refused is None:
            self.refused = {}
        self.refused[status] = self.refused.get(status, 0) + 1


STATE_KEY: web.AppKey[IngestState] = web.AppKey("emc_ingest")


@dataclass(slots=True)
class IngestState:
    """Everything the handlers share (no module-level state)."""

    sites: SiteMap
    tokens: TokenStore
    producer: AcknowledgedProducer
    config: IngestConfig
    counters: IngestCounters


def create_ingest_app(
    sites: SiteMap,
    tokens: TokenStore,
    producer: AcknowledgedProducer,
    config: IngestConfig | None = None,
) -> web.Application:
    """The ingest application; the caller owns ``producer`` (and closes it)."""
    cfg = config or IngestConfig()
    app = web.Application(client_max_size=cfg.max_body_bytes)
    app[STATE_KEY] = IngestState(sites, tokens, producer, cfg, IngestCounters())
    app.router.add_post(TRACKING_PATH, track_one)
    app.router.add_post(BATCH_PATH, track_batch)
    app.router.add_get(PING_PATH, ping)
    return app


def _error(exc: TrackingCallError, state: IngestState) -> web.Response:
    state.counters.refuse(exc.status)
    return web.json_response({"status": "error", **exc.as_json()}, status=exc.status)


def _principal(request: web.Request, state: IngestState) -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TrackingCallError(401, "unauthorized", None, "send Authorization: Bearer <token>")
    principal = state.tokens.authenticate(token.strip())
    if principal is None:
        raise TrackingCallError(401, "unauthorized", None, "unknown or revoked token")
    return principal


async def _body(request: web.Request) -> Any:
    """The request body as JSON data or form fields; 400/413/415 when it is neither."""
    kind = request.content_type
    try:
        if kind == "application/json":
            raw = await request.read()
            try:
                return json.loads(raw)
            except ValueError as exc:
                raise TrackingCallError(
                    400, "malformed_body", None, f"not JSON: {exc.args[0]}"
                ) from None
        if kind in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            return {k: v for k, v in form.items() if isinstance(v, str)}
    except web.HTTPRequestEntityTooLarge:
        raise TrackingCallError(413, "too_large", None, "the body is too large") from None
    raise TrackingCallError(
        415,
        "unsupported_media_type",
        None,
        "send application/json or application/x-www-form-urlencoded",
    )


def _check_unit(principal: Principal, tracked: TrackedEvent) -> None:
    unit = tracked.event["unit_code"]
    if not principal.may_see(unit):
        raise TrackingCallError(
            403,
            "forbidden",
            "SiteId",
            f"this token sends for {principal.unit_code}, not for {unit}",
        )


async def _produce(state: IngestState, events: list[TrackedEvent]) -> None:
    futures = [asyncio.wrap_future(state.producer.send(t.kind, t.event)) for t in events]
    try:
        await asyncio.wait_for(asyncio.gather(*futures), state.config.produce_timeout_s)
    except (TimeoutError, EmcError) as exc:
        log.warning("produce failed: %s", exc)
        raise TrackingCallError(
            503, "broker_unavailable", None, "the broker did not acknowledge: retry"
        ) from None


def _accepted(tracked: TrackedEvent) -> dict[str, Any]:
    return {
        "event_id": tracked.event["event_id"],
        "event_type": tracked.kind.value,
        "unit_code": tracked.event["unit_code"],
        "dossier_id": tracked.event["dossier_id"],
    }


async def track_one(request: web.Request) -> web.Response:
    """``POST /TrackingMCDT``: one call → one event, answered after the broker's ack."""
    state = request.app[STATE_KEY]
    try:
        principal = _principal(request, state)
        body = await _body(request)
        if not isinstance(body, Mapping):
            raise TrackingCallError(
                400, "malformed_body", None, f"a call is an object; for arrays use {BATCH_PATH}"
            )
        tracked = parse_call(body, state.sites.unit_of, _now_ms(), state.config.default_due_days)
        _check_unit(principal, tracked)
        await _produce(state, [tracked])
    except TrackingCallError as exc:
        return _error(exc, state)
    state.counters.accepted += 1
    return web.json_response({"status": "success", "message": "OK", **_accepted(tracked)})


async def track_batch(request: web.Request) -> web.Response:
    """``POST /TrackingMCDT/batch``: many calls, produced all or none (see the module doc)."""
    state = request.app[STATE_KEY]
    try:
        principal = _principal(request, state)
        body = await _body(request)
        calls = body.get("calls") if isinstance(body, Mapping) else body
        if not isinstance(calls, list) or not calls:
            raise TrackingCallError(
                400, "malformed_body", None, 'a batch is a non-empty JSON array or {"calls": [...]}'
            )
        if len(calls) > state.config.max_batch:
            raise TrackingCallError(
                413, "too_large", None, f"at most {state.config.max_batch} calls per batch"
            )
        now = _now_ms()
        tracked: list[TrackedEvent] = []
        errors: list[tuple[int, TrackingCallError]] = []
        for index, call in enumerate(calls):
            try:
                one = parse_call(call, state.sites.unit_of, now, state.config.default_due_days)
                _check_unit(principal, one)
                tracked.append(one)
            except TrackingCallError as exc:
                errors.append((index, exc))
        if errors:
            status = max(exc.status for _, exc in errors)
            state.counters.refuse(status)
            return web.json_response(
                {
                    "status": "error",
                    "error": "invalid_calls",
                    "detail": f"{len(errors)} of {len(calls)} calls refused; nothing was produced",
                    "errors": [exc.as_json(index) for index, exc in errors],
                },
                status=status,
            )
        await _produce(state, tracked)
    except TrackingCallError as exc:
        return _error(exc, state)
    state.counters.accepted += len(tracked)
    return web.json_response(
        {"status": "success", "accepted": len(tracked), "events": [_accepted(t) for t in tracked]}
    )


async def ping(request: web.Request) -> web.Response:
    """``GET /TrackingMCDT/ping``: alive, with counters (no token, no data)."""
    counters = request.app[STATE_KEY].counters
    return web.json_response(
        {
            "status": "ok",
            "accepted": counters.accepted,
            "refused": {str(k): v for k, v in (counters.refused or {}).items()},
        }
    )


def _now_ms() -> int:
    """Arrival time of a call, epoch milliseconds (UTC)."""
    return time.time_ns() // 1_000_000
