"""Live window tables for operators: dashboard pages, a JSON API and ``emc top``, behind tokens.

Served by the Faust worker's own aiohttp server (``app.web.web_app``), because the worker holds
the live windows in memory and, in embedded mode, the only handle on the ClickHouse engine.

Public surface:

- :func:`register_web` — called once by :func:`streams.worker.app.create_app`;
- :func:`token_store` — the token store for a settings object (used by ``emc token``).

Access rules (:mod:`streams.web.auth`): every route of the worker's web server needs a token
except the login form, static assets (no data) and the OpenAPI document. The dashboard and the
API apply per-unit rules themselves; every other route (``/emc/progress``, ``/emc/units``,
Faust's built-in views such as ``/router``, …) needs a ``national`` token.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aiohttp import web

from sinks.clickhouse import ClickHouseSink
from streams.core.pipeline import BatchProcessor
from streams.core.registry import UnitRegistry
from streams.health.monitor import HealthMonitor
from streams.settings import Settings
from streams.web.api import Api, error_response, request_token
from streams.web.auth import TokenStore
from streams.web.live import LiveTable
from streams.web.pages import Pages

__all__ = ["attach", "register_web", "token_file_path", "token_store"]

SELF_GUARDED_PREFIXES: tuple[str, ...] = (
    "/emc/api/",
    "/emc/dashboard",
    "/emc/login",
    "/emc/logout",
    "/emc/static/",
)
"""Routes that apply the access rules themselves (per unit); the middleware leaves them be."""


def token_file_path(settings: Settings) -> Path:
    """The token file: ``EMC_WEB__TOKENS_FILE``, else ``{data_dir}/web_tokens.json``."""
    return settings.web.tokens_file or settings.data_dir / "web_tokens.json"


def token_store(settings: Settings) -> TokenStore:
    """The token store configured by ``settings`` (file and ``EMC_WEB__TOKENS``)."""
    spec = settings.web.tokens.get_secret_value() if settings.web.tokens else None
    return TokenStore(token_file_path(settings).resolve(), spec)


def national_only(tokens: TokenStore) -> Any:
    """aiohttp middleware: routes not in :data:`SELF_GUARDED_PREFIXES` need a national token."""

    @web.middleware
    async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith(SELF_GUARDED_PREFIXES):
            return await handler(request)
        principal = tokens.authenticate(request_token(request))
        if principal is None:
            return error_response(401, "a valid token is required")
        if principal.role != "national":
            return error_response(403, "this route needs a national token")
        return await handler(request)

    return guard


def attach(
    web_app: web.Application,
    processor: BatchProcessor,
    registry: UnitRegistry,
    sink: ClickHouseSink,
    settings: Settings,
    health: HealthMonitor | None = None,
) -> LiveTable:
    """Add the dashboard, the API and the access middleware to an aiohttp application."""
    tokens = token_store(settings)
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="emc-web-clickhouse")
    live = LiveTable(processor, registry, sink, executor)
    api = Api(live=live, registry=registry, tokens=tokens, health=health)
    pages = Pages(registry=registry, tokens=tokens, live=live)
    web_app.middlewares.append(national_only(tokens))
    for path, handler in api.routes():
        web_app.router.add_get(path, handler)
    for method, path, handler in api.write_routes():
        web_app.router.add_route(method, path, handler)
    for method, path, handler in pages.routes():
        web_app.router.add_route(method, path, handler)
    return live


def register_web(
    app: Any,
    processor: BatchProcessor,
    registry: UnitRegistry,
    sink: ClickHouseSink,
    settings: Settings,
    health: HealthMonitor | None = None,
) -> LiveTable:
    """Serve the dashboard and the API from the Faust app's web server (``app.web.web_app``)."""
    live = attach(app.web.web_app, processor, registry, sink, settings, health)

    app.emc_live = live
    return live
