"""The API and pages on a real worker (tansu + chdb): every access rule, and a fuzz pass.

Tokens: two from EMC_WEB__TOKENS (national, unit HA_NOI) and one issued and then revoked with
`emc token` while the worker runs (the worker re-reads the token file).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from streams.core.events import EventType
from streams.kafka.produce import EventProducer
from tests.integration.fixtures import TEST_NATIONAL_TOKEN, emc_here
from tests.web.helpers import HA_NOI, NATIONAL, TOKENS_ENV, get_json, http, receipt

pytestmark = pytest.mark.integration

DATA_PATHS = (
    "/emc/api/units",
    "/emc/api/units/HA_NOI",
    "/emc/api/units/HA_NOI/windows",
    "/emc/api/units/DA_NANG",
    "/emc/api/units/DA_NANG/windows?window=1h",
    "/emc/api/statuses",
    "/emc/api/me",
    "/emc/progress",
    "/emc/units",
    "/router/",
)


def _emc(env: dict[str, str], *args: str) -> str:
    """``emc ARGS``' standard output (the command run in this process: :func:`emc_here`)."""
    out = emc_here(env, *args)
    assert out.exit_code == 0, out.stderr
    return out.stdout


def eventually(
    read: Callable[[], Any], done: Callable[[Any], bool], timeout_s: float = 15.0
) -> Any:
    """``read()`` again every 0.2 s until ``done`` holds for it (or ``timeout_s`` passed): the
    last answer, for the test's own assertions."""
    deadline = time.monotonic() + timeout_s
    got = read()
    while not done(got) and time.monotonic() < deadline:
        time.sleep(0.2)
        got = read()
    return got


def test_access_rules_and_fuzz(broker_factory, worker_factory, tmp_path: Path) -> None:
    broker = broker_factory()
    worker = worker_factory(broker, EMC_WEB__TOKENS=f"national={TEST_NATIONAL_TOKEN},{TOKENS_ENV}")
    base = f"http://127.0.0.1:{worker.web_port}"
    now = int(time.time() * 1000)
    producer = EventProducer(broker.bootstrap_servers, encoding="json")
    events = [
        receipt("h1", "HA_NOI", now - 4000, online=True),
        receipt("h2", "HA_NOI", now - 3000, online=True, officer=True),
        receipt("h3", "HA_NOI", now - 2000, online=False),
        receipt("d1", "DA_NANG", now - 2000, online=True),
        receipt("d2", "DA_NANG", now - 1000, online=False),
    ]
    for ev in events:
        producer.send(EventType.RECEIVED, ev)
    producer.close()
    worker.wait_consumed(len(events))
    # Evaluate the connection statuses now, before anything reads them: the worker reuses
    # statuses it read for 5 s, so a read before the evaluation would hide it that long.
    evaluated, _, _ = http(
        f"{base}/emc/health/evaluate",
        NATIONAL,
        method="POST",
        data=json.dumps({"at_ms": now}).encode(),
    )

    # No token, a wrong token: 401 everywhere, and no unit data in the answer.
    for token in (None, "not-a-token", NATIONAL + "x"):
        for path in DATA_PATHS:
            status, headers, body = http(base + path, token)
            assert status == 401, (path, token, status)
            assert b"HA_NOI" not in body and b"DA_NANG" not in body and b"received" not in body
            assert headers.get("WWW-Authenticate", "").startswith("Bearer")

    # National: every unit of the registry (the live table lists every row of units.csv: the
    # 83 of seed 001 and Bộ Nông nghiệp và Môi trường of 2025).
    everything = get_json(f"{base}/emc/api/units?limit=500", NATIONAL)
    rows = {r["unit_code"]: r for r in everything["rows"]}
    assert everything["total"] == len(rows) == 84
    assert (rows["HA_NOI"]["received_60m"], rows["HA_NOI"]["online_60m"]) == (3, 2)
    assert rows["HA_NOI"]["remote_60m"] == 1
    assert rows["HA_NOI"]["online_rate_60m"] == pytest.approx(2 / 3)
    assert (rows["DA_NANG"]["received_60m"], rows["DA_NANG"]["online_60m"]) == (2, 1)
    for path in DATA_PATHS:
        assert http(base + path, NATIONAL)[0] == 200, path
    windows = get_json(f"{base}/emc/api/units/HA_NOI/windows?window=1d", NATIONAL)
    assert sum(r["received"] for r in windows["rows"]) == 3

    # Silent units: received in the last 30 days, nothing for silent_after_s (1 s after the
    # last receipt's time, 1 s before `now`: at once or within a few row rebuilds).
    silent = eventually(
        lambda: get_json(f"{base}/emc/api/units?silent=true&silent_after_s=1&limit=500", NATIONAL),
        lambda got: {r["unit_code"] for r in got["rows"]} == {"HA_NOI", "DA_NANG"},
    )
    assert {r["unit_code"] for r in silent["rows"]} == {"HA_NOI", "DA_NANG"}
    assert all(r["silent"] for r in silent["rows"]) and silent["totals"]["silent"] == 2
    assert get_json(f"{base}/emc/api/units?silent=true", NATIONAL)["total"] == 0
    # Liveness for container health checks needs no token and says nothing about units.
    status, _, body = http(f"{base}/emc/api/ping")
    assert (status, body) == (200, b'{"ok":true}')

    # Connection statuses (emc.unit_connection_status, kept by streams/health): evaluated
    # (above, before any read of them), the API shows each unit's status; a unit token sees
    # only its own.
    if evaluated != 404:  # the health evaluation endpoint exists in this build
        status = evaluated
        assert status == 200
        # the worker reuses statuses it read for 5 s: until then it may serve an older read
        statuses = eventually(
            lambda: get_json(f"{base}/emc/api/statuses", NATIONAL),
            lambda got: got["available"] and "HA_NOI" in {r["unit_code"] for r in got["rows"]},
        )
        by_unit = {r["unit_code"]: r for r in statuses["rows"]}
        assert statuses["available"] and "HA_NOI" in by_unit
        row = get_json(f"{base}/emc/api/units/HA_NOI", NATIONAL)["unit"]
        assert row["status"] == by_unit["HA_NOI"]["status"] and row["status"]
        mine = get_json(f"{base}/emc/api/statuses", HA_NOI)["rows"]
        assert [r["unit_code"] for r in mine] == ["HA_NOI"]

    # Unit token: its own unit only; another unit is 403 with no data; national routes 403.
    mine = get_json(f"{base}/emc/api/units?limit=500", HA_NOI)
    assert [r["unit_code"] for r in mine["rows"]] == ["HA_NOI"] and mine["total"] == 1
    assert get_json(f"{base}/emc/api/units/HA_NOI", HA_NOI)["unit"]["received_60m"] == 3
    statuses = get_json(f"{base}/emc/api/statuses", HA_NOI)["rows"]
    assert all(r["unit_code"] == "HA_NOI" for r in statuses)
    for path in (
        "/emc/api/units/DA_NANG",
        "/emc/api/units/DA_NANG/windows",
        "/emc/api/units/NOT_A_UNIT",
        "/emc/dashboard/units/DA_NANG",
        "/emc/progress",
        "/emc/units",
        "/table/unit_state/",
    ):
        status, _, body = http(base + path, HA_NOI)
        assert status == 403, (path, status)
        assert b"DA_NANG" not in body.replace(b"/DA_NANG", b"") and b"received" not in body
    assert http(f"{base}/emc/dashboard/units/HA_NOI", HA_NOI)[0] == 200

    # A token issued while the worker runs works at once; revoked, it stops working at once.
    issued = _emc(
        worker.env, "token", "issue", "--role", "unit", "--unit", "DA_NANG", "--name", "t"
    )
    plaintext = issued.strip().splitlines()[-1]
    token_id = plaintext.split("_")[1]
    assert plaintext not in (Path(worker.env["EMC_DATA_DIR"]) / "web_tokens.json").read_text()
    seen = get_json(f"{base}/emc/api/units", plaintext)
    assert [r["unit_code"] for r in seen["rows"]] == ["DA_NANG"]
    assert http(f"{base}/emc/api/units/HA_NOI", plaintext)[0] == 403
    listing = _emc(worker.env, "token", "list")
    assert token_id in listing and "active" in listing and plaintext not in listing
    _emc(worker.env, "token", "revoke", token_id)
    for path in DATA_PATHS:
        status, _, body = http(base + path, plaintext)
        assert status == 401 and b"DA_NANG" not in body, path
    assert "revoked" in _emc(worker.env, "token", "list")

    # Pages: a ?token= link sets an HttpOnly SameSite=Strict cookie and drops the token from
    # the URL; the cookie then works for the API; without it the page is the login form.
    status, headers, _ = http(f"{base}/emc/dashboard?token={HA_NOI}")
    assert status == 303 and headers["Location"] == "/emc/dashboard"
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    jar = cookie.split(";")[0]
    status, _, body = http(f"{base}/emc/api/units", cookie=jar)
    assert status == 200 and [r["unit_code"] for r in json.loads(body)["rows"]] == ["HA_NOI"]
    status, _, body = http(f"{base}/emc/dashboard")
    assert status == 401 and b'name="token"' in body and b"HA_NOI" not in body
    status, headers, _ = http(
        f"{base}/emc/login", method="POST", data=f"token={NATIONAL}&next=/emc/dashboard".encode()
    )
    assert status == 303 and "HttpOnly" in headers["Set-Cookie"]
    assert http(f"{base}/emc/login", method="POST", data=b"token=wrong")[0] == 401

    # Fuzz the served OpenAPI document (bounded): no 5xx, answers match the schema.
    st = Path(sys.executable).with_name("st")
    fuzz = subprocess.run(
        [
            str(st),
            "--no-color",
            "run",
            f"{base}/emc/api/openapi.json",
            "--url",
            base,
            "-H",
            f"Authorization: Bearer {NATIONAL}",
            "--max-examples",
            "25",
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,"
            "response_schema_conformance",
            "--seed",
            "1",
        ],
        capture_output=True,
        timeout=240,
        check=False,
        cwd=tmp_path,  # schemathesis keeps its example database in the working directory
    )
    report = (
        fuzz.stdout.decode(errors="replace")[-5000:] + fuzz.stderr.decode(errors="replace")[-2000:]
    )
    assert fuzz.returncode == 0, report
    print(report)
    assert "No issues found" in report, report
    assert worker.proc.poll() is None, worker.log()
    assert worker.stop() == 0, worker.log()
