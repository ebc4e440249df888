"""Cluster DDL is generated from the single-node schema and parsed by the real engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from sinks.clickhouse import ClickHouseSink
from sinks.cluster import cluster_ddl
from sinks.schema import ddl


@pytest.fixture(scope="module")
def sink(tmp_path_factory: pytest.TempPathFactory) -> ClickHouseSink:
    return ClickHouseSink(f"chdb://{tmp_path_factory.mktemp('cluster')}/ch")


def test_every_statement_is_parsed_by_clickhouse(sink: ClickHouseSink) -> None:
    statements = cluster_ddl("emc", "emc_cluster")
    data = [s for s in statements if not s.startswith("CREATE ")]
    assert data == [s for s in ddl("emc") if s.startswith("INSERT INTO ")]  # kept as they are
    for statement in statements:
        (formatted,) = sink.query_rows("SELECT formatQuery({q:String})", {"q": statement})[0]
        if statement.startswith("CREATE "):
            assert "ON CLUSTER emc_cluster" in formatted, formatted


def test_tables_are_replicated_and_distributed() -> None:
    single = [s for s in ddl("emc") if s.startswith("CREATE TABLE")]
    tables = [s.split()[5].split(".")[1] for s in single]
    statements = cluster_ddl("emc", "c1")
    text = "\n".join(statements)
    assert "ENGINE = MergeTree" not in text and "ENGINE = ReplacingMergeTree" not in text
    for table in tables:
        assert (
            f"ReplicatedReplacingMergeTree('/clickhouse/tables/{{shard}}/emc/{table}'" in text
            or (f"/clickhouse/tables/{{shard}}/emc/{table}', '{{replica}}'" in text)
        ), table
        assert (
            f"CREATE TABLE IF NOT EXISTS emc.{table}_all ON CLUSTER c1 AS emc.{table} "
            f"ENGINE = Distributed(c1, emc, {table}, cityHash64(unit_code))"
        ) in statements
    # the version column survives as the Replicated engine's argument
    assert "'{replica}', version)" in text


def test_cluster_name_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        cluster_ddl("emc", "bad name")
