"""Sinks: where rows leave the stream processor. :mod:`.base` is the contract, :mod:`.clickhouse`
the only way to ClickHouse, :mod:`.schema` and :mod:`.health_schema` the tables it owns."""
