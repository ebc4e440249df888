"""The provisioned Grafana dashboard runs on this schema: every panel's SQL is executed
against the embedded ClickHouse (chdb through clickhouse-connect) over seeded rows and must
return rows. Grafana's macros are expanded here as the ClickHouse plugin expands them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from sinks.clickhouse import ClickHouseSink

DOCKER = Path(__file__).resolve().parents[2] / "docker"
DASHBOARD = DOCKER / "grafana" / "dashboards" / "emc.json"
DATASOURCE = DOCKER / "grafana" / "provisioning" / "datasources" / "clickhouse.yaml"

NOW = "toDateTime64('2024-01-18 12:00:00', 3, 'Asia/Ho_Chi_Minh')"
FROM = "toDateTime64('2024-01-11 12:00:00', 3, 'Asia/Ho_Chi_Minh')"


def expand_macros(sql: str) -> str:
    sql = re.sub(r"\$__timeFilter\(([^)]+)\)", rf"(\1 >= {FROM} AND \1 <= {NOW})", sql)
    sql = sql.replace("$__toTime", NOW).replace("$__fromTime", FROM)
    assert "$__" not in sql, f"a macro this test does not expand: {sql}"
    return sql


def dashboard_queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [
        (panel["title"], target["rawSql"])
        for panel in dashboard["panels"]
        for target in panel["targets"]
    ]


def test_datasource_is_provisioned_without_a_baked_secret() -> None:
    (source,) = yaml.safe_load(DATASOURCE.read_text(encoding="utf-8"))["datasources"]
    assert source["type"] == "grafana-clickhouse-datasource"
    assert source["jsonData"]["protocol"] == "http" and source["jsonData"]["port"] == 8123
    assert source["secureJsonData"]["password"] == "$CLICKHOUSE_PASSWORD"
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    uids = {p["datasource"]["uid"] for p in dashboard["panels"]}
    assert uids == {source["uid"]}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> ClickHouseSink:
    sink = ClickHouseSink(f"chdb://{tmp_path_factory.mktemp('grafana')}/ch")
    sink.ensure_schema()
    day, hour = "2024-01-18 00:00:00", "2024-01-18 08:00:00"
    sink.command(
        "INSERT INTO emc.unit_window_rollup (unit_code, window, window_start, window_end, "
        "received, online, remote, online_rate, remote_rate, on_time_rate, version) VALUES "
        f"('HA_NOI', '1d', '{day}', '2024-01-19 00:00:00', 10, 6, 4, 0.6, 0.4, 0.9, 1), "
        f"('HA_NOI', '1h', '{hour}', '2024-01-18 09:00:00', 3, 2, 1, 0.66, 0.33, 1, 1)"
    )
    sink.command(
        "INSERT INTO emc.unit_status_history (unit_code, status, status_label, reason_code, "
        "reason, from_time, version) VALUES ('HA_NOI', 'connected', 'Đã kết nối toàn diện', "
        f"'ok', '', '{day}', 1)"
    )
    sink.command(
        "INSERT INTO emc.lifecycle_anomalies (unit_code, dossier_id, event_id, event_type, "
        f"reason, detail, event_time, detected_at) VALUES ('HA_NOI', 'D9', 'x9', "
        f"'result_returned', 'result_without_receipt', '', '{hour}', '{hour}')"
    )
    sink.command(
        "INSERT INTO emc.dossier_events (event_type, event_id, unit_code, dossier_id, "
        "event_time, encoding, source_partition, source_offset, counted_windows, ingested_at) "
        f"VALUES ('received', 'late1', 'HA_NOI', 'D8', '{hour}', 'json', 0, 1, 0, '{hour}')"
    )
    sink.command(
        "INSERT INTO emc.dead_letters (source_topic, source_partition, source_offset, kind, "
        "reason, detail, unit_code, original_size, original_prefix_b64, rejected_at) VALUES "
        f"('emc.dossier.received.v1', 0, 7, 'dead_letter', 'missing_field', 'no due_at', "
        f"'HA_NOI', 12, 'e30=', '{hour}')"
    )
    sink.command(
        "INSERT INTO emc.unit_scores (period, period_start, period_end, unit_code, unit_kind, "
        "received, score, level, rank, partly_connected, scoring_version, computed_at) VALUES "
        f"('2024-Q1', '2024-01-01 00:00:00', '2024-04-01 00:00:00', 'HA_NOI', 'province', 10, "
        f"91.5, 'A', 1, false, 'test', '{hour}')"
    )
    sink.command(
        "INSERT INTO emc.unit_totals_differences (unit_code, period, period_start, period_end, "
        "measure, emc_value, reported_value, difference, relative_difference, within_tolerance, "
        "tolerance, report_id, computed_at) VALUES ('HA_NOI', '2024-01', '2024-01-01 00:00:00', "
        f"'2024-02-01 00:00:00', 'received', 45, 60, -15, -0.25, false, 0.05, 'r1', '{hour}')"
    )
    return sink


@pytest.mark.parametrize(("title", "sql"), dashboard_queries())
def test_every_dashboard_query_returns_rows(seeded: ClickHouseSink, title: str, sql: str) -> None:
    rows = seeded.query_rows(expand_macros(sql))
    assert rows, f"{title}: no rows"
    assert all(value is not None for value in rows[0][:2]), (title, rows[0])
