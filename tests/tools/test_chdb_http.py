"""tools.chdb_http: a real ClickHouse HTTP endpoint over the embedded engine.

Servers run as child processes (``python -m tools.chdb_http``, started by the bench's
:class:`bench.procs.ClickHouseServer`): chdb allows one data path per process, and the test
process may host other engines. Clients are unmodified clickhouse-connect
HTTP clients and the project's own ClickHouseSink.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import clickhouse_connect
import lz4.frame
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from bench.procs import ClickHouseServer
from sinks.clickhouse import ClickHouseSink
from sinks.errors import SinkUnavailableError
from sinks.schema import EVENT_COLUMNS, ROLLUP_COLUMNS
from streams.core.rows import RowBatch
from tools.chdb_http import _QUERY, _Decoder, _InsertHead, _split_insert

VN = timezone(timedelta(hours=7))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ClickHouseServer]:
    proc = ClickHouseServer(tmp_path / "chdb").start()
    try:
        yield proc
    finally:
        proc.stop()


def _http(
    url: str, data: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


TABLE_DDL = """CREATE TABLE IF NOT EXISTS emc_http.readings (
    unit_code LowCardinality(String),
    id UInt64,
    at DateTime64(3, 'Asia/Ho_Chi_Minh'),
    channel LowCardinality(Nullable(String)),
    value Nullable(Float64),
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (unit_code, id)"""
NAMES = ["unit_code", "id", "at", "channel", "value", "version"]


def _columns(n: int, version: int, start: int = 0) -> list[list[Any]]:
    base = datetime(2026, 3, 1, 23, 59, 59, 123000, tzinfo=VN)
    ids = range(start, start + n)
    return [
        [f"U{i % 37:03d}" for i in ids],
        list(ids),
        [base + timedelta(seconds=i) for i in ids],
        [None if i % 5 == 0 else ("online", "counter")[i % 2] for i in ids],
        [None if i % 7 == 0 else i / 4 for i in ids],
        [version] * n,
    ]


@pytest.mark.integration
def test_clickhouse_connect_through_kill_and_restart(server: ClickHouseServer) -> None:
    client = clickhouse_connect.get_client(host="127.0.0.1", port=server.port)
    assert client.command("CREATE DATABASE IF NOT EXISTS emc_http") is not None
    client.command(TABLE_DDL)

    # ~10k rows, column-oriented, then the same ids again with a higher version.
    client.insert("emc_http.readings", _columns(10_000, 1), NAMES, column_oriented=True)
    summary = client.insert("emc_http.readings", _columns(2_000, 2), NAMES, column_oriented=True)
    assert summary.written_rows == 2_000
    rows = client.query(
        "SELECT count(), countIf(version = 2), countIf(channel IS NULL), countIf(value IS NULL),"
        " toString(min(at)) FROM emc_http.readings FINAL"
    ).result_rows
    assert rows == [(10_000, 2_000, 2_000, 1_429, "2026-03-01 23:59:59.123")]

    first = client.query(
        "SELECT unit_code, id, at, channel, value FROM emc_http.readings FINAL"
        " WHERE id = {id:UInt64} AND unit_code = {unit:String}",
        parameters={"id": 3, "unit": "U003"},
    ).result_rows
    assert first == [("U003", 3, datetime(2026, 3, 2, 0, 0, 2, 123000, tzinfo=VN), "counter", 0.75)]
    assert first[0][2].utcoffset() == timedelta(hours=7)
    assert client.command("SELECT uniqExact(unit_code) FROM emc_http.readings") == 37
    assert client.command("SELECT 1 WHERE 0") == ""  # a result set, empty

    with pytest.raises(DatabaseError) as bad:
        client.query("SELEC count() FROM emc_http.readings")
    assert "Code: 62" in str(bad.value) and "SYNTAX_ERROR" in str(bad.value)
    with pytest.raises(DatabaseError) as missing:
        client.command("SELECT * FROM emc_http.nope")
    assert "UNKNOWN_TABLE" in str(missing.value)

    # ClickHouse goes away: the client sees a connection failure, not a database error.
    server.kill()
    with pytest.raises(OperationalError):
        client.query("SELECT count() FROM emc_http.readings")
    with pytest.raises(OperationalError):
        client.insert("emc_http.readings", _columns(10, 3), NAMES, column_oriented=True)

    # Back on the same path and port: the data survived and the same client works again.
    server.start()
    assert client.command("SELECT count() FROM emc_http.readings FINAL") == 10_000
    client.insert("emc_http.readings", _columns(500, 3, start=10_000), NAMES, column_oriented=True)
    assert client.command("SELECT count() FROM emc_http.readings FINAL") == 10_500


def _value(name: str, kind: str, given: dict[str, Any], at: int) -> Any:
    """A value for a schema column: ``given`` by name, else NULL or a plain value of its type."""
    if name in given:
        return given[name]
    if kind.startswith("Nullable") or "(Nullable" in kind:
        return None
    if "DateTime" in kind:
        return at
    if "String" in kind:
        return "x"
    if kind.startswith("Float"):
        return 0.5
    if kind.startswith("Bool"):
        return False
    return 1


@pytest.mark.integration
def test_project_sink_ddl_and_writes_go_through(server: ClickHouseServer) -> None:
    sink = ClickHouseSink(dsn=server.dsn, database="emc_t")
    sink.ensure_schema()
    sink.ensure_schema()  # idempotent
    at = int(datetime(2026, 3, 2, 8, 30, tzinfo=VN).timestamp() * 1000)
    day = int(datetime(2026, 3, 2, tzinfo=VN).timestamp() * 1000)
    given = {
        "event_type": "received",
        "event_id": "e-1",
        "unit_code": "U001",
        "dossier_id": "d-1",
        "event_time": at,
        "channel": "online",
        "encoding": "json",
        "source_offset": 41,
        "counted_windows": 7,
        "window": "1d",
        "window_start": day,
        "window_end": day + 86_400_000,
    }
    batch = RowBatch()
    batch.add_event([_value(name, kind, given, at) for name, kind in EVENT_COLUMNS])
    rollup = [_value(name, kind, given, at) for name, kind in ROLLUP_COLUMNS]
    batch.add_rollup(rollup)
    sink.write(batch)
    sink.write(batch)  # a retried batch does not double-count
    assert sink.query_rows(
        "SELECT event_id, toString(event_time), channel, procedure_code"
        " FROM emc_t.dossier_events FINAL"
    ) == [("e-1", "2026-03-02 08:30:00.000", "online", None)]
    assert sink.query_rows(
        "SELECT unit_code, toString(window_start) FROM emc_t.unit_rollup_latest"
        " WHERE window = {w:String}",
        parameters={"w": "1d"},
    ) == [("U001", "2026-03-02 00:00:00.000")]

    server.kill()
    with pytest.raises(SinkUnavailableError):
        sink.write(batch)
    server.start()
    sink.write(batch)
    assert sink.query_rows("SELECT count() FROM emc_t.dossier_events FINAL") == [(1,)]
    sink.close()


@pytest.mark.integration
def test_sessions_settings_and_raw_http(server: ClickHouseServer) -> None:
    a = clickhouse_connect.get_client(host="127.0.0.1", port=server.port, compress=False)
    b = clickhouse_connect.get_client(host="127.0.0.1", port=server.port, compress="gzip")
    setting = "SELECT value FROM system.settings WHERE name = 'max_threads'"
    default = b.command(setting)
    a.command("SET max_threads = 3")  # session state, like a server session
    assert a.command(setting) == 3
    assert b.command(setting) == default
    assert a.query(setting, settings={"max_threads": 5}).result_rows == [("5",)]
    assert a.command(setting) == 3  # per-query settings do not stick
    a.command("CREATE DATABASE IF NOT EXISTS s1")
    a.command("USE s1")
    assert a.command("SELECT currentDatabase()") == "s1"
    assert b.command("SELECT currentDatabase()") == "default"
    b.command("CREATE TABLE s1.t (x UInt32, s String) ENGINE = MergeTree ORDER BY x")
    b.insert("s1.t", [[1, 2, 3], ["a", "b", "c"]], ["x", "s"], column_oriented=True)  # gzip
    assert a.command("SELECT sum(x) FROM t") == 6

    status, headers, body = _http(f"{server.dsn}/ping")
    assert (status, body) == (200, b"Ok.\n")
    status, headers, body = _http(f"{server.dsn}/?query=SELECT%201%2C%20%27x%27")
    assert (status, body) == (200, b"1\tx\n")
    assert headers["X-ClickHouse-Format"] == "TabSeparated"
    assert headers["X-ClickHouse-Timezone"] and headers["X-ClickHouse-Query-Id"]
    assert "read_rows" in headers["X-ClickHouse-Summary"]
    status, headers, body = _http(f"{server.dsn}/?query=DROP%20TABLE%20s1.t")  # GET
    assert status == 500 and headers["X-ClickHouse-Exception-Code"] == "164"
    status, headers, body = _http(
        f"{server.dsn}/?query=INSERT%20INTO%20s1.t%20FORMAT%20CSV",
        data=lz4.frame.compress(b"4,d\n") + lz4.frame.compress(b'5,"e"\n'),
        headers={"Content-Encoding": "lz4"},
    )
    assert status == 200, body
    status, headers, body = _http(
        f"{server.dsn}/?default_format=JSONCompact&param_m=3",
        data=b"SELECT x FROM s1.t WHERE x > {m:UInt32} ORDER BY x",
    )
    assert status == 200 and json.loads(body)["data"] == [[4], [5]]
    status, headers, body = _http(f"{server.dsn}/", data=b"SELECT * FROM s1.nope")
    assert status == 404 and headers["X-ClickHouse-Exception-Code"] == "60"
    assert body.startswith(b"Code: 60. DB::Exception:") and b"(version " in body


@pytest.mark.integration
def test_authentication(tmp_path: Path) -> None:
    proc = ClickHouseServer(
        tmp_path / "chdb", args=("--user", "emc"), env={"CHDB_HTTP_PASSWORD": "s3cret"}
    ).start()
    try:
        good = clickhouse_connect.get_client(
            host="127.0.0.1", port=proc.port, username="emc", password="s3cret"
        )
        assert good.command("SELECT 1") == 1
        with pytest.raises(DatabaseError) as refused:
            clickhouse_connect.get_client(
                host="127.0.0.1", port=proc.port, username="emc", password="wrong"
            )
        assert "516" in str(refused.value) and "AUTHENTICATION_FAILED" in str(refused.value)
        status, headers, _ = _http(f"{proc.dsn}/?query=SELECT%201")
        assert status == 403 and headers["X-ClickHouse-Exception-Code"] == "516"
        status, _, body = _http(
            f"{proc.dsn}/?query=SELECT%202",
            headers={"X-ClickHouse-User": "emc", "X-ClickHouse-Key": "s3cret"},
        )
        assert (status, body) == (200, b"2\n")
    finally:
        proc.stop()


# --- request-body parsing, no engine ---------------------------------------------------------


def test_split_insert_finds_inline_data_like_the_server_parser() -> None:
    native = b"\x20\x05\x00binary FORMAT x"
    stmt = b"INSERT INTO db.t (`format`, `values`, b) FORMAT Native\n"
    head = _split_insert(stmt + native, eof=False)
    assert isinstance(head, _InsertHead)
    assert (head.format_name, head.data_at, head.settings_at) == ("Native", len(stmt), None)
    # Not enough bytes to know where data starts: wait for more.
    assert _split_insert(b"INSERT INTO t FORMAT Nat", eof=False) is None
    assert _split_insert(b"INSERT INTO t FORMAT Native", eof=False) is None
    done = _split_insert(b"INSERT INTO t FORMAT Native", eof=True)
    assert isinstance(done, _InsertHead) and done.data_at == len(b"INSERT INTO t FORMAT Native")
    with_settings = _split_insert(b"INSERT INTO t SETTINGS a=1 FORMAT CSV \r\n1,2", eof=True)
    assert isinstance(with_settings, _InsertHead)
    assert with_settings.settings_at == len(b"INSERT INTO t ")
    assert with_settings.data_at == len(b"INSERT INTO t SETTINGS a=1 FORMAT CSV \r\n")
    assert _split_insert(b"INSERT INTO t VALUES ('FORMAT x')", eof=True) == _QUERY
    assert _split_insert(b"INSERT INTO t SELECT 1 FORMAT Null", eof=True) == _QUERY
    assert _split_insert(b"SELECT 1 FORMAT Native", eof=False) == _QUERY
    assert _split_insert(b"/* c */ -- x\n insert into t format TSV\n1", eof=True) is not None


def test_decoder_handles_concatenated_frames() -> None:
    payload = [b"INSERT INTO t FORMAT Native\n", os.urandom(100_000), b"tail"]
    lz4_body = b"".join(lz4.frame.compress(p) for p in payload)
    decoder = _Decoder("lz4")
    out = b"".join(decoder.feed(lz4_body[i : i + 777]) for i in range(0, len(lz4_body), 777))
    decoder.finish()
    assert out == b"".join(payload)
    gz = zlib.compressobj(wbits=31)
    gzip_body = gz.compress(b"".join(payload)) + gz.flush()
    decoder = _Decoder("gzip")
    assert decoder.feed(gzip_body) == b"".join(payload)
    decoder.finish()
    truncated = _Decoder("lz4")
    truncated.feed(lz4_body[:1000])
    with pytest.raises(Exception, match="Truncated"):
        truncated.finish()
