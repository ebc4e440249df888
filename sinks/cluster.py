"""Cluster DDL, generated from the single-node statements of :func:`sinks.schema.ddl`.

Chosen by ``EMC_CLICKHOUSE__CLUSTER`` (a cluster of the servers' ``remote_servers``). Every
statement gets ``ON CLUSTER``; each ``*MergeTree`` engine becomes its ``Replicated*`` form with
the conventional ZooKeeper/Keeper path ``/clickhouse/tables/{shard}/<db>/<table>`` and
``{replica}`` macros; and each table gets a ``<table>_all`` Distributed table for reads,
sharded by ``cityHash64(unit_code)`` so that all versions of a row land on one shard
(``ReplacingMergeTree`` only collapses versions within a shard). Generic by construction: a
table added to the single-node DDL (e.g. by other work) gets its cluster form with no change
here. Views stay per node over the local tables; BI reads across shards through ``*_all``.
A data statement of the schema (the one-time fill of ``dossier_fact_states`` from the events a
store held before its materialized view existed) cannot run ON CLUSTER: it is kept as it is and
fills, on the node the client is connected to, that node's shard; run it on one replica of each
shard when upgrading an existing cluster.
"""

from __future__ import annotations

import re

from sinks.schema import ddl

_CREATE = re.compile(
    r"^CREATE (?P<what>DATABASE|TABLE|VIEW|MATERIALIZED VIEW) IF NOT EXISTS (?P<name>\S+)"
)
_ENGINE = re.compile(r"ENGINE = (?P<engine>\w*MergeTree)(?:\((?P<args>[^)]*)\))?")


def _replicated(statement: str, database: str, table: str) -> str:
    def swap(match: re.Match[str]) -> str:
        engine, args = match.group("engine"), match.group("args")
        path = f"'/clickhouse/tables/{{shard}}/{database}/{table}', '{{replica}}'"
        inner = f"{path}, {args}" if args else path
        return f"ENGINE = Replicated{engine}({inner})"

    return _ENGINE.sub(swap, statement, count=1)


def cluster_ddl(database: str, cluster: str) -> list[str]:
    """The statements of :func:`sinks.schema.ddl` for ``cluster``, plus the Distributed tables."""
    if not re.fullmatch(r"[A-Za-z0-9_]+", cluster):
        raise ValueError("cluster must be a plain identifier (letters, digits, _)")
    out: list[str] = []
    for statement in ddl(database):
        match = _CREATE.match(statement)
        if match is None:
            if not statement.startswith("INSERT INTO "):
                raise ValueError(f"no cluster form for: {statement[:60]}")
            out.append(statement)  # a data statement: per node, see the module docstring
            continue
        name = match.group("name")
        on_cluster = f"{match.group(0)} ON CLUSTER {cluster}"
        statement = on_cluster + statement[match.end() :]
        if match.group("what") == "TABLE":
            table = name.split(".", 1)[1]
            out.append(_replicated(statement, database, table))
            out.append(
                f"CREATE TABLE IF NOT EXISTS {name}_all ON CLUSTER {cluster} AS {name} "
                f"ENGINE = Distributed({cluster}, {database}, {table}, cityHash64(unit_code))"
            )
        else:
            out.append(statement)
    return out
