"""Shared helpers of the web tests: synthetic registries and events, plain HTTP calls."""

from __future__ import annotations

import csv
import json
import urllib.error
import urllib.request
from datetime import date
from pathlib import Path
from typing import Any

from streams.core.registry import HEADER, Unit, UnitRegistry

NATIONAL = "test-national-secret"
HA_NOI = "test-ha-noi-secret"
TOKENS_ENV = f"national={NATIONAL},unit:HA_NOI={HA_NOI}"


def synthetic_units(n: int) -> list[Unit]:
    """``n`` extra units SYN_00000…, alternately ministries and provinces, valid since 2020."""
    return [
        Unit(
            code=f"SYN_{i:05d}",
            name_vi=f"Đơn vị thử nghiệm {i}" if i % 2 else f"Bộ thử nghiệm {i}",
            kind="province" if i % 2 else "ministry",
            valid_from=date(2020, 1, 1),
            valid_to=None,
            vendor=None,
        )
        for i in range(n)
    ]


def write_registry(path: Path, units: list[Unit]) -> None:
    """Write ``units`` as a units.csv (the registry's file format)."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for u in units:
            writer.writerow(
                [
                    u.code,
                    u.name_vi,
                    u.kind,
                    u.valid_from.isoformat(),
                    u.valid_to.isoformat() if u.valid_to else "",
                    u.vendor or "",
                    u.successor or "",
                ]
            )


def registry_with(n_synthetic: int, base: UnitRegistry | None = None) -> UnitRegistry:
    units = list(base.units) if base is not None else []
    return UnitRegistry([*units, *synthetic_units(n_synthetic)])


def receipt(
    event_id: str, unit: str, at_ms: int, online: bool, officer: bool = False
) -> dict[str, Any]:
    """A received event (JSON field names of the contract)."""
    return {
        "event_id": event_id,
        "unit_code": unit,
        "dossier_id": f"D-{event_id}",
        "event_time": at_ms,
        "procedure_code": "1.004946",
        "procedure_level": 4,
        "channel": "online" if online else "in_person",
        "submitter_type": "officer" if officer else "citizen",
        "via_national_portal": False,
        "due_at": at_ms + 3_600_000,  # the codec refuses due times over a day ahead
        "fee_payment": "none",
        "postal_return": False,
        "procedure_name": "Thủ tục thử",
    }


def http(
    url: str,
    token: str | None = None,
    cookie: str | None = None,
    method: str = "GET",
    data: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of one request; never follows redirects."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if cookie is not None:
        headers["Cookie"] = cookie
    request = urllib.request.Request(url, headers=headers, method=method, data=data)
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def get_json(url: str, token: str) -> Any:
    status, _, body = http(url, token)
    assert status == 200, (status, body[:300])
    return json.loads(body)
