"""Operator-set statuses ("Đã kết nối, đang phối hợp xử lý" and any other override) on the real
embedded engine: one that wins while in force and expires, in the history and the report; and
``emc status set|clear`` in child processes (``emc status`` alone still prints the table)."""

from __future__ import annotations

import csv
import io
import os
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from streams.core.localtime import format_local
from streams.health.report import build_report
from tests.health.engine import ms
from tests.health.test_imports import emc
from tests.integration.fixtures import query_json

pytestmark = pytest.mark.integration

COORDINATING = "Đã kết nối, đang phối hợp xử lý"


def office_hours(first: date, last: date) -> list[int]:
    out = []
    day = first
    while day <= last:
        if day.weekday() < 5:
            out += [ms(day.year, day.month, day.day, h, 10) for h in range(8, 17)]
        day += timedelta(days=1)
    return out


def test_an_override_wins_while_in_force_and_expires(engine_factory: Any) -> None:
    e = engine_factory()
    e.lifecycles("HA_NOI", office_hours(date(2024, 3, 4), date(2024, 3, 8)))
    m = e.monitor
    m.set_override(
        "HA_NOI", "coordinating", "Đối soát với nhà cung cấp", "Nguyễn Văn A",
        ms(2024, 3, 8, 16, 0), ms(2024, 3, 11, 12, 0), record_now=False,
    )  # fmt: skip
    m.set_override(
        "BHXH_VN", "coordinating", "Đang phối hợp xử lý", "Trần Thị B",
        ms(2024, 3, 8, 9, 0), None, record_now=False,
    )  # fmt: skip
    before = e.statuses(ms(2024, 3, 8, 15, 0))
    assert before["HA_NOI"].status == "fully_connected"
    assert before["BHXH_VN"].status == "coordinating"
    during = e.statuses(ms(2024, 3, 8, 17, 0))
    ha_noi = during["HA_NOI"]
    assert (ha_noi.status, ha_noi.reason_code, ha_noi.status_label) == (
        "coordinating",
        "operator_override",
        COORDINATING,
    )
    assert "Nguyễn Văn A" in ha_noi.reason and "2024-03-11 12:00" in ha_noi.reason
    assert ha_noi.receipts == 45  # the measured numbers are kept
    after = e.statuses(ms(2024, 3, 11, 13, 0))
    assert after["HA_NOI"].status == "fully_connected"  # expired at 12:00
    assert after["BHXH_VN"].status == "coordinating"  # open-ended

    periods = [(p.status, p.from_ms, p.to_ms) for p in m.history("HA_NOI")]
    assert periods == [
        ("fully_connected", ms(2024, 3, 8, 15, 0), ms(2024, 3, 8, 17, 0)),
        ("coordinating", ms(2024, 3, 8, 17, 0), ms(2024, 3, 11, 13, 0)),
        ("fully_connected", ms(2024, 3, 11, 13, 0), None),
    ]
    # the report at a past instant reads the history; after the end it does not keep the override
    report = {r.unit_code: r for r in build_report(m, ms(2024, 3, 9, 10, 0))}
    assert report["HA_NOI"].status_label == COORDINATING
    assert report["BHXH_VN"].status_label == COORDINATING
    later = {r.unit_code: r for r in build_report(m, ms(2024, 3, 11, 12, 30))}
    assert later["HA_NOI"].status == "fully_connected" and later["HA_NOI"].source == "evaluated"


def status_rows(env: dict[str, str], *args: str) -> dict[str, dict[str, str]]:
    out = emc(env, "status", "--format", "csv", *args)
    assert out.returncode == 0, out.stderr
    return {r["unit_code"]: r for r in csv.DictReader(io.StringIO(out.stdout))}


def test_status_set_and_clear_commands(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("EMC_")},
        "EMC_DATA_DIR": str(tmp_path / "data"),
    }
    out = emc(
        env, "status", "set", "BHXH_VN", "--reason", "Đang phối hợp với nhà cung cấp",
        "--author", "Nguyễn Văn A",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("BHXH_VN: coordinating from ")
    # ends in 12 s (the next three commands run meanwhile), set well before that
    soon = format_local(int(time.time() * 1000) + 12_000, "%Y-%m-%dT%H:%M:%S")
    out = emc(
        env, "status", "set", "HA_NOI", "--status", "interrupted", "--reason", "Bảo trì",
        "--author", "Trần Thị B", "--until", soon,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert int(time.time() * 1000) < ms_of(soon), "the override must be set before it ends"

    rows = status_rows(env, "--kind", "ministry")
    assert rows["BHXH_VN"]["Hiện trạng kết nối với Hệ thống EMC"] == COORDINATING
    assert "Nguyễn Văn A" in rows["BHXH_VN"]["reason"]
    assert "HA_NOI" not in rows  # --kind still filters
    table = emc(env, "status")  # no subcommand: the appendix table, as before
    assert table.returncode == 0 and COORDINATING in table.stdout, table.stderr
    while int(time.time() * 1000) < ms_of(soon) + 500:
        time.sleep(0.2)
    rows = status_rows(env)
    assert rows["HA_NOI"]["status"] == "not_connected"  # the override ended by itself

    out = emc(env, "status", "clear", "BHXH_VN", "--author", "Nguyễn Văn A")
    assert out.returncode == 0 and "1 override(s) cleared" in out.stdout, out.stderr
    assert status_rows(env)["BHXH_VN"]["status"] == "not_connected"
    history = query_json(
        env,
        "SELECT status, reason_code FROM emc.unit_status_history FINAL "
        "WHERE unit_code = 'BHXH_VN' ORDER BY from_time",
    )
    assert [h["status"] for h in history] == ["coordinating", "not_connected"]
    assert history[0]["reason_code"] == "operator_override"
    bad = emc(env, "status", "set", "NO_SUCH", "--reason", "x", "--author", "y")
    assert bad.returncode != 0 and "unknown unit code" in bad.stderr


def ms_of(text: str) -> int:
    from streams.core.localtime import parse_local

    return parse_local(text)
