"""Browser pages: the live dashboard, a page per unit, the login form and static assets.

The pages are small HTML shells; the numbers come from the JSON API, fetched every second by
the page's own script (``static/``, no third-party code, no CDN). The token arrives once, by
``?token=…`` (the link ``emc run`` prints) or the login form, and is kept in an HttpOnly,
SameSite=Strict cookie; the URL is then redirected without it so it stays out of history.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final, TypeVar

from aiohttp import web

from sinks.errors import SinkError
from streams.core.registry import UnitRegistry
from streams.web.api import COOKIE_NAME, Handler, request_token
from streams.web.auth import Principal, TokenStore
from streams.web.live import LiveTable
from streams.web.scores import dashboard_scores, dashboard_section, unit_scores, unit_section

T = TypeVar("T")

STATIC_FILES: Final[dict[str, str]] = {
    "style.css": "text/css",
    "common.js": "text/javascript",
    "dashboard.js": "text/javascript",
    "unit.js": "text/javascript",
}
COOKIE_MAX_AGE_S: Final = 12 * 3600
SECURITY_HEADERS: Final[dict[str, str]] = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _static(name: str) -> bytes:
    return resources.files("streams.web").joinpath("static", name).read_bytes()


def _is_https(request: web.Request) -> bool:
    return request.secure or request.headers.get("X-Forwarded-Proto", "") == "https"


def _shell(title: str, body: str, scripts: tuple[str, ...] = (), body_attrs: str = "") -> str:
    tags = "".join(f'<script src="/emc/static/{s}" defer></script>' for s in scripts)
    return (
        '<!doctype html><html lang="vi"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        '<link rel="icon" href="data:,"><link rel="stylesheet" href="/emc/static/style.css">'
        f"{tags}</head><body {body_attrs}>{body}</body></html>"
    )


def _page(text: str, status: int = 200) -> web.Response:
    return web.Response(
        text=text, status=status, content_type="text/html", headers=SECURITY_HEADERS
    )


def _safe_next(target: str | None) -> str:
    """Only same-site dashboard paths may be redirect targets (no open redirect)."""
    if target and target.startswith("/emc/dashboard") and "//" not in target:
        return target
    return "/emc/dashboard"


_HEADER = (
    '<header><h1><a href="/emc/dashboard" data-i18n="title">EMC — Giám sát trực tiếp</a></h1>'
    '<span id="who"></span>'
    '<button id="lang" type="button" title="Tiếng Việt / English">EN</button>'
    '<form method="post" action="/emc/logout"><button type="submit" data-i18n="logout">'
    "Đăng xuất</button></form></header>"
)

_DASHBOARD_BODY = (
    _HEADER + '<section id="summary" class="summary"></section>'
    '<section class="filters">'
    '<input id="q" type="search" data-i18n-placeholder="search" placeholder="Tìm đơn vị…">'
    '<select id="kind"><option value="" data-i18n="all_kinds">Tất cả bộ/ngành, tỉnh/thành</option>'
    '<option value="ministry" data-i18n="ministry">Bộ/ngành</option>'
    '<option value="province" data-i18n="province">Tỉnh/thành phố</option></select>'
    '<select id="status"><option value="" data-i18n="all_statuses">'
    "Mọi hiện trạng kết nối</option></select>"
    '<label><input id="silent" type="checkbox"> <span data-i18n="silent_only">'
    "Chỉ đơn vị ngừng gửi dữ liệu</span></label>"
    '<select id="limit"><option>25</option><option selected>50</option><option>100</option>'
    "</select></section>"
    '<table id="units" class="units"><thead><tr>'
    '<th data-sort="name_vi" data-i18n="unit">Đơn vị</th>'
    '<th data-sort="kind" data-i18n="kind">Loại</th>'
    '<th data-sort="last_receipt_at_ms" data-i18n="last_event">Sự kiện gần nhất</th>'
    '<th data-sort="received_1m" class="num" data-i18n="recv_1m">Tiếp nhận 1 phút</th>'
    '<th data-sort="received_60m" class="num" data-i18n="recv_60m">Tiếp nhận 60 phút</th>'
    '<th data-sort="received_24h" class="num" data-i18n="recv_24h">Tiếp nhận 24 giờ</th>'
    '<th data-sort="online_rate_60m" class="num" data-i18n="online_60m">'
    "Tỷ lệ trực tuyến 60 phút</th>"
    '<th data-sort="online_rate_24h" class="num" data-i18n="online_24h">'
    "Tỷ lệ trực tuyến 24 giờ</th>"
    '<th data-sort="remote_rate_60m" class="num" data-i18n="remote_60m">'
    "Trực tuyến từ xa 60 phút</th>"
    '<th data-sort="remote_rate_24h" class="num" data-i18n="remote_24h">'
    "Trực tuyến từ xa 24 giờ</th>"
    '<th data-sort="on_time_rate_30d" class="num" data-i18n="on_time">Đúng hạn 30 ngày</th>'
    '<th data-sort="satisfaction_rate_30d" class="num" data-i18n="satisfaction">'
    "Hài lòng 30 ngày</th>"
    '<th data-sort="status" data-i18n="status">Hiện trạng kết nối</th>'
    '<th data-sort="rejected" class="num" data-i18n="rejected">Bản tin bị từ chối</th>'
    '<th data-i18n="trend">Xu hướng 60 phút</th>'
    "</tr></thead><tbody></tbody></table>"
    '<nav class="pager"><button id="prev" type="button">‹</button><span id="range"></span>'
    '<button id="next" type="button">›</button></nav>'
)


def _unit_body(code: str, name: str) -> str:
    return (
        _HEADER
        + f'<p class="crumb"><a href="/emc/dashboard" data-i18n="back">← Bảng theo dõi</a></p>'
        f'<h2 id="unit-name">{html.escape(name)} <small>{html.escape(code)}</small></h2>'
        '<section id="unit-status" class="status-line"></section>'
        '<section id="cards" class="cards"></section>'
        '<section class="chart"><h3 data-i18n="chart_minutes">'
        "Tiếp nhận mỗi phút, 60 phút qua</h3>"
        '<div id="chart-minutes"></div></section>'
        '<section class="chart"><h3 data-i18n="chart_hours">'
        "Theo giờ, 48 giờ qua: tiếp nhận và tỷ lệ</h3>"
        '<div id="chart-hours"></div></section>'
        '<section class="chart"><h3 data-i18n="chart_days">'
        "Theo ngày, 30 ngày qua: tiếp nhận và tỷ lệ</h3>"
        '<div id="chart-days"></div></section>'
        '<section class="chart"><h3 data-i18n="recent_minutes">'
        "Các cửa sổ 1 phút gần nhất (ClickHouse)</h3>"
        '<table id="minutes" class="units"></table></section>'
        '<section class="chart"><h3 data-i18n="rejects_title">'
        "Bản tin bị từ chối (hàng đợi lỗi)</h3>"
        '<table id="rejects" class="units"></table></section>'
        '<section class="chart"><h3 data-i18n="history_title">'
        "Lịch sử trạng thái kết nối và công văn nhắc nhở</h3>"
        '<table id="history" class="units"></table></section>'
    )


def _login_body(error: str | None, target: str) -> str:
    message = f'<p class="error">{html.escape(error)}</p>' if error else ""
    return (
        '<main class="login"><h1 data-i18n="title">EMC — Giám sát trực tiếp</h1>'
        f"{message}"
        '<form method="post" action="/emc/login">'
        '<label><span data-i18n="token">Mã truy cập</span> '
        '<input name="token" type="password" autocomplete="off" required></label>'
        f'<input type="hidden" name="next" value="{html.escape(target)}">'
        '<button type="submit" data-i18n="login">Đăng nhập</button></form>'
        '<button id="lang" type="button">EN</button></main>'
    )


@dataclass
class Pages:
    """Handlers of the HTML pages; each checks the token itself."""

    registry: UnitRegistry
    tokens: TokenStore
    live: LiveTable | None = None
    """The worker's live table: its ClickHouse sink and executor serve the stored scores
    (``None``: pages without a store show no scores section)."""

    async def _stored(self, read: Callable[[Any], T]) -> T | str:
        """``read(sink)`` in the ClickHouse executor, or the error text when it fails."""
        live = self.live
        assert live is not None
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(live.executor, lambda: read(live.sink))
        except SinkError as exc:
            return f"ClickHouse is unavailable: {exc}"

    async def _scores_html(self, who: Principal, period: str | None) -> str:
        if self.live is None:
            return ""
        view = await self._stored(lambda sink: dashboard_scores(sink, who, period))
        if isinstance(view, str):
            return dashboard_section(None, self.registry, view)
        return dashboard_section(view, self.registry)

    async def _unit_scores_html(self, code: str) -> str:
        if self.live is None:
            return ""
        rows = await self._stored(lambda sink: unit_scores(sink, code))
        if isinstance(rows, str):
            return unit_section(None, rows)
        return unit_section(rows)

    def _login(
        self, request: web.Request, error: str | None = None, status: int = 401
    ) -> web.Response:
        path = (
            str(request.rel_url.without_query_params("token")) if request.method == "GET" else None
        )
        target = _safe_next(path)
        return _page(_shell("EMC — Đăng nhập", _login_body(error, target), ("common.js",)), status)

    def _with_cookie(self, response: web.StreamResponse, request: web.Request, token: str) -> None:
        response.set_cookie(
            COOKIE_NAME,
            token,
            max_age=COOKIE_MAX_AGE_S,
            path="/",
            httponly=True,
            samesite="Strict",
            secure=_is_https(request),
        )

    def _authenticate(self, request: web.Request) -> Principal | web.Response:
        """The principal, or the response to send instead (login form, or a redirect that
        turns a ``?token=`` link into the cookie)."""
        given = request.query.get("token")
        if given:
            if self.tokens.authenticate(given) is None:
                return self._login(request, "Mã truy cập không hợp lệ / invalid token")
            clean = request.rel_url.without_query_params("token")
            response = web.HTTPSeeOther(location=str(clean))
            self._with_cookie(response, request, given)
            raise response
        principal = self.tokens.authenticate(request_token(request))
        if principal is None:
            return self._login(request)
        return principal

    async def dashboard(self, request: web.Request) -> web.StreamResponse:
        who = self._authenticate(request)
        if isinstance(who, web.Response):
            return who
        scores = await self._scores_html(who, request.query.get("period") or None)
        return _page(
            _shell("EMC — Bảng theo dõi", _DASHBOARD_BODY + scores, ("common.js", "dashboard.js"))
        )

    async def unit(self, request: web.Request) -> web.StreamResponse:
        who = self._authenticate(request)
        if isinstance(who, web.Response):
            return who
        code = request.match_info["unit_code"]
        if not who.may_see(code):
            body = (
                '<main class="login"><p class="error">403: không được phép / forbidden</p></main>'
            )
            return _page(_shell("EMC — 403", body), 403)
        unit = self.registry.get(code)
        if unit is None:
            body = '<main class="login"><p class="error">404: không có đơn vị này</p></main>'
            return _page(_shell("EMC — 404", body), 404)
        return _page(
            _shell(
                f"EMC — {unit.name_vi}",
                _unit_body(unit.code, unit.name_vi) + await self._unit_scores_html(unit.code),
                ("common.js", "unit.js"),
                f'data-unit="{html.escape(unit.code)}"',
            )
        )

    async def login_form(self, request: web.Request) -> web.StreamResponse:
        return self._login(request, status=200)

    async def login(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        token = str(form.get("token", "")).strip()
        if self.tokens.authenticate(token) is None:
            return self._login(request, "Mã truy cập không hợp lệ / invalid token")
        response = web.HTTPSeeOther(location=_safe_next(str(form.get("next", ""))))
        self._with_cookie(response, request, token)
        raise response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        response = web.HTTPSeeOther(location="/emc/login")
        response.del_cookie(COOKIE_NAME, path="/")
        raise response

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        kind = STATIC_FILES.get(name)
        if kind is None:
            raise web.HTTPNotFound()
        return web.Response(
            body=_static(name),
            content_type=kind,
            charset="utf-8",
            headers={"Cache-Control": "max-age=60", "X-Content-Type-Options": "nosniff"},
        )

    def routes(self) -> list[tuple[str, str, Handler]]:
        """(method, path, handler) of every page."""
        return [
            ("GET", "/emc/dashboard", self.dashboard),
            ("GET", "/emc/dashboard/units/{unit_code}", self.unit),
            ("GET", "/emc/login", self.login_form),
            ("POST", "/emc/login", self.login),
            ("POST", "/emc/logout", self.logout),
            ("GET", "/emc/logout", self.logout),
            ("GET", "/emc/static/{name}", self.static),
        ]
