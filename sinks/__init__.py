"""Sinks: where rows leave the stream processor (ClickHouse)."""
