"""The sink contract on the real embedded engine: named columns in, ``write(batch)``, and the
query methods that are the only way to ClickHouse."""

from __future__ import annotations

from pathlib import Path

import pytest

from sinks.base import MemorySink, Sink
from sinks.clickhouse import ClickHouseSink
from sinks.errors import SinkError
from sinks.schema import TABLE_COLUMNS, typed
from streams.core.rows import LAYOUTS, RowBatch

pytestmark = pytest.mark.integration


def _rollup_row(unit: str, start_ms: int, received: int, version: int) -> list[object]:
    values: dict[str, object] = {
        "unit_code": unit,
        "window": "1d",
        "window_start": start_ms,
        "window_end": start_ms + 86_400_000,
        "updated_at": start_ms,
        "version": version,
    }
    row: list[object] = []
    for name, kind in TABLE_COLUMNS["unit_window_rollup"]:
        if name in values:
            row.append(values[name])
        elif name == "received":
            row.append(received)
        else:
            row.append(None if kind.startswith("Nullable") else 0)
    return row


def test_every_layout_has_typed_columns_in_the_same_order() -> None:
    assert set(LAYOUTS) == set(TABLE_COLUMNS)
    for table, layout in LAYOUTS.items():
        assert tuple(name for name, _ in TABLE_COLUMNS[table]) == layout


def test_a_layout_and_its_types_cannot_drift() -> None:
    with pytest.raises(ValueError, match=r"no type for \['b'\].*unknown columns \['c'\]"):
        typed("t", ("a", "b"), {"a": "UInt8", "c": "String"})


def test_memory_sink_keeps_batches_in_order() -> None:
    sink: Sink = MemorySink()
    first, second = RowBatch(), RowBatch()
    sink.write(first)
    sink.write(second)
    assert isinstance(sink, MemorySink) and sink.batches == [first, second]


def test_write_query_and_insert_on_the_embedded_engine(tmp_path: Path) -> None:
    sink = ClickHouseSink(f"chdb://{tmp_path / 'ch'}", database="emc_sink")
    try:
        sink.ensure_schema()
        day = 1_767_200_400_000  # 2026-01-01 00:00 Asia/Ho_Chi_Minh
        batch = RowBatch()
        batch.add_rollup(_rollup_row("U1", day, 5, version=1))
        batch.add_rollup(_rollup_row("U2", day, 3, version=1))
        sink.write(batch)
        newer = RowBatch()
        newer.add_rollup(_rollup_row("U1", day, 7, version=2))  # a correction: higher version
        sink.write(newer)
        sink.write(newer)  # a retried batch changes nothing
        names, rows = sink.query_table(
            "SELECT unit_code, received, toString(window_start) AS start"
            " FROM emc_sink.unit_window_rollup FINAL ORDER BY unit_code"
        )
        assert names == ["unit_code", "received", "start"]
        assert rows == [("U1", 7, "2026-01-01 00:00:00.000"), ("U2", 3, "2026-01-01 00:00:00.000")]

        sink.command("CREATE TABLE emc_sink.t (a UInt8, b String) ENGINE = Memory")
        sink.insert_columns("t", ["a", "b"], [[1, 2], ["x", "y"]])
        assert sink.query_rows(
            "SELECT b FROM emc_sink.t WHERE a = {a:UInt8}", parameters={"a": 2}
        ) == [("y",)]

        with pytest.raises(SinkError):
            sink.query_rows("SELECT no_such_column FROM emc_sink.t")
    finally:
        sink.close()
