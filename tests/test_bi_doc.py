"""docs/bi.md's example queries run on the embedded ClickHouse over the project's schema and
return rows (so the documented contract is the one the code creates)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sinks.clickhouse import ClickHouseSink

DOC = Path(__file__).resolve().parents[1] / "docs" / "bi.md"


def doc_queries() -> list[str]:
    return re.findall(r"```sql\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


@pytest.fixture(scope="module")
def sink(tmp_path_factory: pytest.TempPathFactory) -> ClickHouseSink:
    sink = ClickHouseSink(f"chdb://{tmp_path_factory.mktemp('bi')}/ch")
    sink.ensure_schema()
    sink.command(
        "INSERT INTO emc.unit_window_rollup (unit_code, window, window_start, window_end, "
        "received, online, remote, online_rate, remote_rate, version) VALUES "
        "('HA_NOI', '1d', '2024-01-18 00:00:00', '2024-01-19 00:00:00', 9, 5, 3, 0.55, 0.33, 1),"
        "('HA_NOI', '1d', '2024-01-18 00:00:00', '2024-01-19 00:00:00', 10, 6, 4, 0.6, 0.4, 2)"
    )
    sink.command(
        "INSERT INTO emc.dossier_events (event_type, event_id, unit_code, dossier_id, "
        "event_time, encoding, source_partition, source_offset, counted_windows, ingested_at) "
        "VALUES ('received', 'e1', 'HA_NOI', 'D1', '2024-01-18 08:00:00', 'json', 0, 1, 7, "
        "'2024-01-18 08:00:01')"
    )
    return sink


def test_the_doc_has_queries() -> None:
    assert len(doc_queries()) >= 4


@pytest.mark.parametrize("sql", doc_queries())
def test_every_documented_query_returns_rows(sink: ClickHouseSink, sql: str) -> None:
    names, rows = sink.query_table(sql)
    assert rows, sql
    if "received" in names:  # the newest version wins: FINAL and argMax both see 10, not 9
        assert rows[0][names.index("received")] == 10
