"""The OpenAPI 3 document of the JSON API, served at ``/emc/api/openapi.json``.

Built from the same names the handlers use (views, counters, rates), so the two cannot drift.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from streams.core.indicators import COUNTERS, RATES
from streams.core.registry import CODE_PATTERN
from streams.core.windows import WINDOW_NAMES
from streams.web.live import LIVE_VIEWS, ROW_NUMBER_FIELDS, TREND_MINUTES, VIEW_COUNTERS

_NULLABLE_NUMBER = {"type": "number", "nullable": True}
_NULLABLE_INT = {"type": "integer", "nullable": True}
_NULLABLE_STRING = {"type": "string", "nullable": True}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "a query parameter is invalid",
        401: "no valid token (missing, unknown or revoked)",
        403: "the token may not read this unit",
        404: "no such unit",
        503: "ClickHouse is unavailable",
    }
    return {str(c): _json(_ref("Error"), text[c]) for c in codes}


def _row_schema() -> dict[str, Any]:
    props: dict[str, Any] = {
        "unit_code": {"type": "string"},
        "name_vi": {"type": "string", "description": "Vietnamese name"},
        "kind": {"type": "string", "enum": ["ministry", "province"]},
        "source": {
            "type": "string",
            "enum": ["memory", "clickhouse", "none"],
            "description": "memory: this worker's live windows; clickhouse: rollups written by "
            "another worker; none: no receipt in 30 days",
        },
        "last_receipt_at_ms": {
            **_NULLABLE_INT,
            "description": "latest receipt time (epoch ms); to the window for units read "
            "from ClickHouse",
        },
        "silent": {
            "type": "boolean",
            "description": "received in the last 30 days but nothing for silent_after_s",
        },
        "status": {**_NULLABLE_STRING, "description": "emc.unit_connection_status.status"},
        "status_label": {**_NULLABLE_STRING, "description": "the status in Vietnamese"},
        "status_reason": _NULLABLE_STRING,
        "status_since_ms": _NULLABLE_INT,
        "rejected": {
            "type": "integer",
            "minimum": 0,
            "description": "records of this unit in emc.dead_letters (dead letters and late "
            "events, all time); details at /emc/api/units/{unit_code}/rejects",
        },
        "trend": {
            "type": "array",
            "items": {"type": "integer", "minimum": 0},
            "maxItems": TREND_MINUTES,
            "description": f"receipts per minute over the last {TREND_MINUTES} minutes, oldest "
            "first (only with trend=true)",
        },
    }
    for field in ROW_NUMBER_FIELDS:
        name, _, view = field.rpartition("_")
        if name in VIEW_COUNTERS:
            props[field] = {
                "type": "integer",
                "minimum": 0,
                "description": f"{name} dossiers over the {view} view",
            }
        elif name == "avg_processing_s":
            props[field] = {**_NULLABLE_NUMBER, "description": f"seconds, {view} view"}
        else:
            props[field] = {
                **_NULLABLE_NUMBER,
                "minimum": 0,
                "maximum": 1,
                "description": f"{name} over the {view} view (fraction, null when undefined)",
            }
    optional = ("trend", "status", "status_label", "status_reason", "rejected")
    required = [k for k in props if k not in optional]
    required = [k for k in required if k != "status_since_ms"]
    return {"type": "object", "properties": props, "required": required}


def _window_row_schema() -> dict[str, Any]:
    props: dict[str, Any] = {
        "start_ms": {"type": "integer", "description": "window start, epoch ms"},
        "end_ms": {"type": "integer", "description": "window end (exclusive), epoch ms"},
    }
    for name in COUNTERS:
        props[name] = {"type": "integer", "minimum": 0}
    for name in RATES:
        props[name] = dict(_NULLABLE_NUMBER)
    return {"type": "object", "properties": props, "required": list(props)}


@lru_cache(maxsize=1)
def _override_body() -> dict[str, Any]:
    from streams.health.statuses import STATUSES

    instant = {"type": "integer", "minimum": 0, "maximum": 4_102_444_800_000}
    return {
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": list(STATUSES)},
            "reason": {"type": "string", "pattern": "\\S", "maxLength": 200},
            "author": {"type": "string", "pattern": "\\S", "maxLength": 100},
            "start_ms": {**instant, "description": "epoch ms; default now"},
            "end_ms": {**instant, "description": "epoch ms, after start_ms; default open-ended"},
        },
        "required": ["status", "reason"],
    }


def openapi_document() -> dict[str, Any]:
    """The API description (OpenAPI 3.0.3)."""
    unit_param = {
        "name": "unit_code",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": f"^{CODE_PATTERN.pattern}$"},
    }
    override_unit = {**unit_param, "schema": {"type": "string", "enum": ["HA_NOI", "BHXH_VN"]}}
    silent_after = {
        "name": "silent_after_s",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 30 * 86_400, "default": 300},
        "description": "a unit is silent after this many seconds without a receipt",
    }
    sort_keys = ["unit_code", "name_vi", "kind", "last_receipt_at_ms", "status", *ROW_NUMBER_FIELDS]
    list_params = [
        {
            "name": "q",
            "in": "query",
            "schema": {"type": "string", "maxLength": 200},
            "description": "search code and name (accents ignored)",
        },
        {
            "name": "kind",
            "in": "query",
            "schema": {"type": "string", "enum": ["ministry", "province"]},
        },
        {
            "name": "status",
            "in": "query",
            "schema": {"type": "string", "maxLength": 200},
            "description": "exact connection status",
        },
        {"name": "silent", "in": "query", "schema": {"type": "boolean"}},
        {
            "name": "trend",
            "in": "query",
            "schema": {"type": "boolean"},
            "description": "add the per-minute trend to each row of the page",
        },
        {
            "name": "sort",
            "in": "query",
            "schema": {"type": "string", "enum": sort_keys, "default": "received_60m"},
        },
        {
            "name": "order",
            "in": "query",
            "schema": {"type": "string", "enum": ["asc", "desc"], "default": "desc"},
        },
        {
            "name": "offset",
            "in": "query",
            "schema": {"type": "integer", "minimum": 0, "maximum": 10_000_000, "default": 0},
        },
        {
            "name": "limit",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
        },
        silent_after,
    ]
    window_params = [
        unit_param,
        {
            "name": "window",
            "in": "query",
            "schema": {"type": "string", "enum": list(WINDOW_NAMES), "default": "1m"},
        },
        {
            "name": "from_ms",
            "in": "query",
            "schema": {"type": "integer", "minimum": 0, "maximum": 2**53},
            "description": "first window start, epoch ms (default: 3 h, 7 d or 90 d back)",
        },
        {
            "name": "to_ms",
            "in": "query",
            "schema": {"type": "integer", "minimum": 0, "maximum": 2**53},
            "description": "windows starting before this, epoch ms",
        },
        {
            "name": "limit",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": 5000, "default": 500},
        },
    ]
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "EMC live unit tables",
            "version": "1",
            "description": "Per-unit live counters and rates (views "
            + ", ".join(LIVE_VIEWS)
            + "), window history from ClickHouse and connection statuses. Rates are "
            "fractions in [0, 1]; times are epoch milliseconds (UTC). A unit token sees only "
            "its own unit.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"cookie": []}],
        "paths": {
            "/emc/api/ping": {
                "get": {
                    "summary": "liveness, no token needed, no data",
                    "security": [],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {"ok": {"type": "boolean"}},
                                "required": ["ok"],
                            },
                            "the worker's web server answers",
                        )
                    },
                }
            },
            "/emc/api/me": {
                "get": {
                    "summary": "who the token belongs to",
                    "responses": {
                        "200": _json(_ref("Principal"), "the token's role"),
                        **_errors(401),
                    },
                }
            },
            "/emc/api/units": {
                "get": {
                    "summary": "live rows of the units the token may see, filtered, sorted, paged",
                    "parameters": list_params,
                    "responses": {
                        "200": _json(_ref("UnitList"), "one page of rows"),
                        **_errors(400, 401, 503),
                    },
                }
            },
            "/emc/api/units/{unit_code}": {
                "get": {
                    "summary": "one unit's live row with its per-minute trend",
                    "parameters": [unit_param, silent_after],
                    "responses": {
                        "200": _json(_ref("UnitDetail"), "the unit"),
                        **_errors(400, 401, 403, 404, 503),
                    },
                }
            },
            "/emc/api/units/{unit_code}/windows": {
                "get": {
                    "summary": "the unit's window rows from ClickHouse (unit_window_rollup FINAL)",
                    "parameters": window_params,
                    "responses": {
                        "200": _json(_ref("WindowList"), "rows, oldest first"),
                        **_errors(400, 401, 403, 404, 503),
                    },
                }
            },
            "/emc/api/scores": {
                "get": {
                    "summary": "stored assessment results (emc.unit_scores: indicators, QĐ 766 "
                    "points, level A–E, rank, targets met), newest period first; a unit token "
                    "sees its own unit's only",
                    "parameters": [
                        {
                            "name": "period",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string"},
                            "description": "2026-Q3, 2026-11, 2026 or 2026-07-01..2026-09-30",
                        }
                    ],
                    "responses": {
                        "200": _json({"type": "object"}, "{period, rows}"),
                        **_errors(400, 401, 503),
                    },
                }
            },
            "/emc/api/units/{unit_code}/rejects": {
                "get": {
                    "summary": "the unit's rejected records (emc.dead_letters): counts by kind "
                    "and reason, and the latest ones (original bytes as a base64 prefix)",
                    "parameters": [unit_param],
                    "responses": {
                        "200": _json({"type": "object"}, "counts and the latest records"),
                        **_errors(400, 401, 403, 404, 503),
                    },
                }
            },
            "/emc/api/units/{unit_code}/history": {
                "get": {
                    "summary": "the unit's status periods (emc.unit_status_history) and the "
                    "reminder letters sent to it (emc.unit_letters: number, status, reasons with "
                    "since_ms, deadline, author), oldest first",
                    "parameters": [unit_param],
                    "responses": {
                        "200": _json({"type": "object"}, "{unit_code, periods, letters}"),
                        **_errors(400, 401, 403, 404, 503),
                    },
                }
            },
            "/emc/api/units/{unit_code}/status-override": {
                "post": {
                    "summary": "set an operator status (national token): body {status, reason, "
                    "author?, start_ms?, end_ms?}; it wins over the computed status while in "
                    "force and is recorded in emc.unit_status_history",
                    "parameters": [override_unit],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _override_body()}},
                    },
                    "responses": {
                        "200": _json({"type": "object"}, "the stored override"),
                        **_errors(400, 401, 403, 404, 503),
                    },
                },
                "delete": {
                    "summary": "end the unit's operator statuses now (national token)",
                    "parameters": [override_unit],
                    "responses": {
                        "200": _json({"type": "object"}, "the overrides ended"),
                        **_errors(401, 403, 404, 503),
                    },
                },
            },
            "/emc/api/statuses": {
                "get": {
                    "summary": "connection statuses (emc.unit_connection_status) the token may see",
                    "responses": {
                        "200": _json(_ref("StatusList"), "statuses"),
                        **_errors(401, 503),
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "emc_token"},
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {"error": {"type": "string"}},
                    "required": ["error"],
                },
                "Principal": {
                    "type": "object",
                    "properties": {
                        "token_id": {"type": "string"},
                        "role": {"type": "string", "enum": ["national", "unit"]},
                        "unit_code": _NULLABLE_STRING,
                        "name": {"type": "string"},
                    },
                    "required": ["token_id", "role", "unit_code", "name"],
                },
                "UnitRow": _row_schema(),
                "UnitList": {
                    "type": "object",
                    "properties": {
                        "now_ms": {"type": "integer"},
                        "total": {"type": "integer", "minimum": 0},
                        "offset": {"type": "integer", "minimum": 0},
                        "limit": {"type": "integer", "minimum": 1},
                        "sort": {"type": "string"},
                        "order": {"type": "string", "enum": ["asc", "desc"]},
                        "statuses_available": {"type": "boolean"},
                        "status_values": {"type": "array", "items": {"type": "string"}},
                        "status_labels": {
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                            "description": "status code → Vietnamese label",
                        },
                        "totals": {
                            "type": "object",
                            "properties": {
                                k: {"type": "integer", "minimum": 0}
                                for k in (
                                    "units",
                                    "active_60m",
                                    "silent",
                                    "received_60m",
                                    "online_60m",
                                )
                            },
                        },
                        "rows": {"type": "array", "items": _ref("UnitRow")},
                    },
                    "required": ["now_ms", "total", "offset", "limit", "rows", "totals"],
                },
                "UnitDetail": {
                    "type": "object",
                    "properties": {
                        "now_ms": {"type": "integer"},
                        "statuses_available": {"type": "boolean"},
                        "unit": _ref("UnitRow"),
                    },
                    "required": ["now_ms", "unit"],
                },
                "WindowRow": _window_row_schema(),
                "WindowList": {
                    "type": "object",
                    "properties": {
                        "unit_code": {"type": "string"},
                        "window": {"type": "string", "enum": list(WINDOW_NAMES)},
                        "from_ms": {"type": "integer"},
                        "to_ms": {"type": "integer"},
                        "rows": {"type": "array", "items": _ref("WindowRow")},
                    },
                    "required": ["unit_code", "window", "rows"],
                },
                "Status": {
                    "type": "object",
                    "properties": {
                        "unit_code": {"type": "string"},
                        "status": {"type": "string"},
                        "status_label": _NULLABLE_STRING,
                        "reason": _NULLABLE_STRING,
                        "since_ms": _NULLABLE_INT,
                        "last_event_at_ms": _NULLABLE_INT,
                    },
                    "required": ["unit_code", "status"],
                },
                "StatusList": {
                    "type": "object",
                    "properties": {
                        "available": {"type": "boolean"},
                        "rows": {"type": "array", "items": _ref("Status")},
                    },
                    "required": ["available", "rows"],
                },
            },
        },
    }
