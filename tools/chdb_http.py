"""A ClickHouse HTTP endpoint backed by the embedded engine (chdb).

Why the project has it
----------------------
``chdb:///abs/path`` runs real ClickHouse inside one process, and chdb allows one process per
data path (a second one gets "Cannot lock file .../status"); no ClickHouse server package is
installable on the project's machines. This module puts the embedded engine behind ClickHouse's
own HTTP interface, so that

* tests get a *real* ClickHouse endpoint that can be made unavailable and brought back: kill the
  process, start it again on the same data path and port, while a worker keeps retrying;
* in embedded mode several processes share one store: the worker, ``emc query`` and BI tools
  that speak ClickHouse HTTP all talk to ``http://127.0.0.1:PORT`` and only this process opens
  the data path.

Clients use their ordinary ClickHouse HTTP driver (the project uses clickhouse-connect with
``http://host:port``): the same DDL, SQL and inserts as against a ClickHouse server.

What of the protocol is implemented
-----------------------------------
The subset that clickhouse-connect's HTTP client (sync and async) and simple HTTP tools use:

* ``GET /ping`` and ``GET /`` without a query answer ``Ok.\\n`` (no authentication, like the
  server). Other paths answer 404.
* ``GET`` or ``POST /``: the query is the ``query`` URL parameter followed by ``\\n`` and the
  request body (the server's concatenation rule), or the ``query`` field of a
  ``multipart/form-data`` body (clickhouse-connect's form encoding of large bind parameters).
  ``GET`` is read-only, as on the server (code 164 READONLY for anything else).
* URL parameters: ``database``, ``default_format`` (default ``TabSeparated``), ``query_id``
  (echoed; generated when absent), ``param_<name>`` bind parameters for ``{name:Type}``
  placeholders, ``session_id`` / ``session_timeout`` / ``session_check`` / ``close_session``,
  ``user`` / ``password``. Every other parameter is a ClickHouse setting for that one query
  (applied with ``SET`` on the session's engine handle and undone afterwards). HTTP transport
  knobs (``wait_end_of_query``, ``enable_http_compression``, ``send_progress_in_http_headers``,
  ``http_headers_progress_interval_ms``, ``cancel_http_readonly_queries_on_client_close``,
  ``client_protocol_version``, ``buffer_size``, ``quota_key``, ``role``, ``stacktrace``) are
  accepted and have no effect.
* Inserts with data in the body (``INSERT INTO t (cols) FORMAT Native`` followed by the data,
  clickhouse-connect's ``insert()``/``raw_insert()``; any input format works): the data is
  streamed to a temporary file and loaded with ``INSERT INTO t (cols) FROM INFILE '<tmp>'
  FORMAT <fmt>``, which is what clickhouse-connect's own chdb backend does. Data starts where
  the server's parser says: after the format name, spaces/tabs, and one optional newline.
  ``INSERT ... VALUES`` and ``INSERT ... SELECT`` run as plain queries.
* Request bodies with ``Content-Encoding`` ``lz4`` (LZ4 frames, clickhouse-connect's default
  for inserts), ``zstd``, ``gzip``, ``deflate`` (``br`` when the brotli module is installed).
  Responses are never compressed: ``Accept-Encoding`` is a preference and identity is always
  allowed, and on loopback compression only costs CPU. ClickHouse's own block compression
  (``compress=1`` / ``decompress=1``) is not implemented (code 48).
* Responses: the result bytes in the requested format (a trailing ``FORMAT x`` clause wins
  over ``default_format``; clickhouse-connect asks for Native), with the headers
  clickhouse-connect reads: ``X-ClickHouse-Query-Id``, ``X-ClickHouse-Summary`` (read/written
  rows and bytes, elapsed), ``X-ClickHouse-Format`` (only for statements that produce a result
  set, so ``command("CREATE ...")`` returns a summary and ``command("SELECT ...")`` a value),
  ``X-ClickHouse-Timezone``, ``X-ClickHouse-Server-Display-Name``.
* Errors: the engine's own text ``Code: N. DB::Exception: ... (NAME) (version V)`` in the body,
  ``X-ClickHouse-Exception-Code: N``, and the HTTP status the server derives from the code
  (``exceptionCodeToHTTPStatus``: 400 syntax/parse errors, 403 authentication, 404 unknown
  table/database/function/setting, 501 not implemented, 503 for a few transient codes, 500
  otherwise). clickhouse-connect turns these into ``DatabaseError`` with the server's message.
* Authentication (only when a user is configured): ``X-ClickHouse-User``/``X-ClickHouse-Key``
  headers, HTTP basic auth (what clickhouse-connect sends) or ``user``/``password`` URL
  parameters; no credentials means user ``default`` with an empty password. Wrong credentials
  get code 516 AUTHENTICATION_FAILED with status 403, like the server.
* Sessions: each ``session_id`` gets its own chdb connection handle, so ``USE``, ``SET`` and
  temporary tables persist across that session's requests and stay invisible to others; a
  session expires after ``session_timeout`` seconds idle (default 60). A request without a
  session runs on a fresh handle that is closed afterwards.

How it runs
-----------
One ``chdb.connect(path)`` engine per process. Engine calls run in a small thread pool, one at a
time under a lock, so the aiohttp loop stays responsive (reading bodies, answering ``/ping``)
while a query runs. Results are materialised before they are sent (chdb returns whole results),
so ``wait_end_of_query`` is always in effect and no progress headers are sent.

Limitations
-----------
* One query at a time: a long query delays everything behind it (fine for a worker plus
  occasional queries and dashboards; not a shared analytics server).
* Results are held in memory; there is no streaming of huge results.
* No external data (``multipart`` file parts), no ClickHouse block compression, no HTTPS,
  no progress headers, no ``/play`` UI, no ``client_protocol_version`` block info
  (clickhouse-connect's probe notices and carries on without it).
* Per-query settings are undone by restoring the value seen before this server first applied
  them on that handle: a session that also ``SET``s the same setting itself may see its own
  value undone. A per-query ``readonly`` cannot be undone; the session's handle is reopened
  (its ``SET``s and temporary tables are lost; its current database is kept).
* ``GET``'s read-only rule is judged from the statement's first keyword. chdb accepts several
  statements in one request where the server refuses them.
* One user, no roles, grants or quotas; credentials travel in clear over plain HTTP, so bind
  to loopback (the default) unless the network is trusted.
* One engine per process: a second server object in the same process can only serve the same
  data path.

Use it from code (``with ChdbHttpServer(path) as server: ... server.port``), inside a running
event loop (``await server.start_async()`` / ``await server.stop_async()``), or from the shell::

    python -m tools.chdb_http --path var/chdb --port 8123 [--host 127.0.0.1]

which runs until SIGTERM or SIGINT and prints ``chdb_http listening on HOST:PORT`` when ready.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hmac
import json
import logging
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
import time
import uuid
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

DEFAULT_SESSION_TIMEOUT_S = 60.0
MAX_SESSION_TIMEOUT_S = 3600.0
_MAX_STATEMENT_BYTES = 1 << 20
"""How far into a body the INSERT statement is looked for before the body counts as a query."""
_SWEEP_INTERVAL_S = 10.0

# --- error codes (ClickHouse's numbers and names) -------------------------------------------

SYNTAX_ERROR = (62, "SYNTAX_ERROR")
NOT_IMPLEMENTED = (48, "NOT_IMPLEMENTED")
UNKNOWN_SETTING = (115, "UNKNOWN_SETTING")
READONLY = (164, "READONLY")
CANNOT_DECOMPRESS = (271, "CANNOT_DECOMPRESS")
SESSION_NOT_FOUND = (372, "SESSION_NOT_FOUND")
AUTHENTICATION_FAILED = (516, "AUTHENTICATION_FAILED")
STD_EXCEPTION = (1001, "STD_EXCEPTION")


def _words(text: str) -> list[str]:
    return text.split()


_STATUS_BY_NAME: dict[str, int] = {
    "REQUIRED_PASSWORD": 401,
    **dict.fromkeys(
        _words("""UNKNOWN_USER WRONG_PASSWORD AUTHENTICATION_FAILED SET_NON_GRANTED_ROLE
        ACCESS_DENIED"""),
        403,
    ),
    **dict.fromkeys(
        _words("""BAD_ARGUMENTS CANNOT_COMPILE_REGEXP CANNOT_PARSE_TEXT CANNOT_PARSE_ESCAPE_SEQUENCE
        CANNOT_PARSE_QUOTED_STRING CANNOT_PARSE_DATE CANNOT_PARSE_DATETIME CANNOT_PARSE_NUMBER
        CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING CANNOT_PARSE_IPV4 CANNOT_PARSE_IPV6
        CANNOT_PARSE_INPUT_ASSERTION_FAILED CANNOT_PARSE_UUID DUPLICATE_COLUMN ILLEGAL_COLUMN
        UNKNOWN_ELEMENT_IN_AST UNKNOWN_TYPE_OF_AST_NODE THERE_IS_NO_COLUMN TOO_DEEP_AST
        TOO_BIG_AST UNEXPECTED_AST_STRUCTURE SYNTAX_ERROR INCORRECT_DATA TYPE_MISMATCH
        VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE"""),
        400,
    ),
    **dict.fromkeys(
        _words("""UNKNOWN_TABLE UNKNOWN_FUNCTION UNKNOWN_IDENTIFIER UNKNOWN_TYPE UNKNOWN_STORAGE
        UNKNOWN_DATABASE UNKNOWN_SETTING UNKNOWN_DIRECTION_OF_SORTING UNKNOWN_AGGREGATE_FUNCTION
        UNKNOWN_FORMAT UNKNOWN_DATABASE_ENGINE UNKNOWN_TYPE_OF_QUERY UNKNOWN_ROLE"""),
        404,
    ),
    "QUERY_IS_TOO_LARGE": 413,
    "NOT_IMPLEMENTED": 501,
    "SOCKET_TIMEOUT": 503,
    "CANNOT_OPEN_FILE": 503,
    "CANNOT_SCHEDULE_TASK": 503,
    "HTTP_LENGTH_REQUIRED": 411,
    "TIMEOUT_EXCEEDED": 408,
    "UNSUPPORTED_MEDIA_TYPE": 415,
}
"""HTTP status per error name, as ClickHouse's ``exceptionCodeToHTTPStatus`` maps them."""

# --- URL parameters ---------------------------------------------------------------------------

_TRANSPORT_PARAMS = frozenset(
    {
        "query",
        "database",
        "default_format",
        "session_id",
        "session_timeout",
        "session_check",
        "close_session",
        "query_id",
        "quota_key",
        "user",
        "password",
        "compress",
        "decompress",
        "stacktrace",
        "client_protocol_version",
        "role",
        "buffer_size",
        "wait_end_of_query",
    }
)
"""Parameters the HTTP interface consumes itself; they never reach the engine as settings."""

_HTTP_ONLY_SETTINGS = frozenset(
    {
        "enable_http_compression",
        "send_progress_in_http_headers",
        "http_headers_progress_interval_ms",
        "cancel_http_readonly_queries_on_client_close",
        "http_response_buffer_size",
        "http_wait_end_of_query",
        "http_zlib_compression_level",
        "http_native_compression_disable_checksumming_on_decompress",
        "http_write_exception_in_output_format",
        "add_http_cors_header",
    }
)
"""Settings that only shape the server's HTTP transport: meaningless here, not applied."""

_SETTING_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TRAILING_FORMAT_RE = re.compile(r"\bFORMAT\s+([A-Za-z_][A-Za-z0-9_]*)\s*;?\s*$", re.IGNORECASE)
_ANY_FORMAT_RE = re.compile(r"\bFORMAT\s+[A-Za-z_]", re.IGNORECASE)
_CODE_RE = re.compile(r"Code:\s*(\d+)")
_NAME_RE = re.compile(r"\(([A-Z][A-Z0-9_]+)\)\s*$")
_WORD_RE = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")
_FIRST_WORD_RE = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/|\()*([A-Za-z_]+)", re.DOTALL)

_READ_ONLY_KEYWORDS = frozenset(
    {"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXISTS", "EXPLAIN", "SET", "USE", "CHECK"}
)
_RESULT_KEYWORDS = frozenset({"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXISTS", "EXPLAIN"})
_WITH_NAMES = {
    "tabseparated": "TabSeparatedWithNames",
    "tsv": "TSVWithNames",
    "tabseparatedraw": "TabSeparatedRawWithNames",
    "tsvraw": "TSVRawWithNames",
    "csv": "CSVWithNames",
}
"""Default formats that have a ``WithNames`` twin: running with the twin tells a statement that
produces a (possibly empty) result set from one that produces nothing, as the server's
``X-ClickHouse-Format`` header does; the names line is stripped before sending."""


class ChdbHttpError(Exception):
    """A ClickHouse exception to send back: code, name and the ``Code: N. ...`` text."""

    def __init__(self, code: int, name: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.name = name
        self.message = message

    @classmethod
    def make(cls, kind: tuple[int, str], text: str) -> ChdbHttpError:
        code, name = kind
        return cls(code, name, f"Code: {code}. DB::Exception: {text}. ({name})")

    @classmethod
    def from_engine(cls, exc: BaseException) -> ChdbHttpError:
        text = str(exc).strip()
        start = text.find("Code: ")
        if start > 0:
            text = text[start:]
        code_match = _CODE_RE.search(text)
        name_match = _NAME_RE.search(text)
        if code_match is None:
            return cls.make(STD_EXCEPTION, text or type(exc).__name__)
        return cls(int(code_match.group(1)), name_match.group(1) if name_match else "", text)

    @property
    def http_status(self) -> int:
        return _STATUS_BY_NAME.get(self.name, 500)


# --- request bodies ---------------------------------------------------------------------------


class _Decoder:
    """Incremental ``Content-Encoding`` decoder; concatenated frames/members are allowed
    (clickhouse-connect compresses each insert block as its own LZ4 frame)."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding.strip().lower()
        self._factory = self._factory_for(self.encoding)
        self._current: Any = None

    @staticmethod
    def _factory_for(encoding: str) -> Callable[[], Any] | None:
        if encoding in ("", "identity"):
            return None
        if encoding == "lz4":
            try:
                import lz4.frame
            except ImportError as exc:
                raise ChdbHttpError.make(
                    NOT_IMPLEMENTED, "lz4 request bodies need the lz4 package"
                ) from exc
            return lz4.frame.LZ4FrameDecompressor
        if encoding == "zstd":
            try:
                from backports import zstd  # type: ignore[import-not-found,unused-ignore]
            except ImportError:
                try:
                    from compression import zstd  # type: ignore[import-not-found,no-redef,unused-ignore]
                except ImportError as exc:
                    raise ChdbHttpError.make(
                        NOT_IMPLEMENTED, "zstd request bodies need backports.zstd"
                    ) from exc
            return zstd.ZstdDecompressor  # type: ignore[no-any-return,unused-ignore]
        if encoding in ("gzip", "x-gzip"):
            return lambda: zlib.decompressobj(wbits=31)
        if encoding == "deflate":
            return lambda: zlib.decompressobj(wbits=15)
        if encoding == "br":
            try:
                import brotli  # type: ignore[import-not-found,unused-ignore]
            except ImportError as exc:
                raise ChdbHttpError.make(
                    NOT_IMPLEMENTED, "br request bodies need the brotli package"
                ) from exc
            return _BrotliShim.factory(brotli)
        raise ChdbHttpError.make(NOT_IMPLEMENTED, f"Unknown compression method '{encoding}'")

    def feed(self, data: bytes) -> bytes:
        if self._factory is None:
            return data
        out: list[bytes] = []
        try:
            while data:
                if self._current is None:
                    self._current = self._factory()
                out.append(self._current.decompress(data))
                if self._current.eof:
                    data = self._current.unused_data
                    self._current = None
                else:
                    data = b""
        except ChdbHttpError:
            raise
        except Exception as exc:
            raise ChdbHttpError.make(
                CANNOT_DECOMPRESS, f"Cannot decompress {self.encoding} request body: {exc}"
            ) from exc
        return b"".join(out)

    def finish(self) -> None:
        if self._current is not None:
            raise ChdbHttpError.make(CANNOT_DECOMPRESS, f"Truncated {self.encoding} request body")


class _BrotliShim:
    """Gives brotli's streaming decompressor the ``decompress/eof/unused_data`` shape."""

    def __init__(self, brotli: Any) -> None:
        self._d = brotli.Decompressor()
        self.unused_data = b""

    @classmethod
    def factory(cls, brotli: Any) -> Callable[[], _BrotliShim]:
        return lambda: cls(brotli)

    @property
    def eof(self) -> bool:
        return bool(self._d.is_finished())

    def decompress(self, data: bytes) -> bytes:
        return bytes(self._d.process(data))


@dataclass(slots=True)
class _InsertHead:
    """Where an ``INSERT ... FORMAT x`` statement ends and its inline data begins."""

    format_at: int
    format_name: str
    data_at: int
    settings_at: int | None


_QUERY = "query"
"""Split verdict: the whole body is one statement (no inline insert data)."""


def _skip_quoted(buf: bytes, i: int) -> int:
    """Index after the quoted string/identifier starting at ``i``; -1 when unterminated."""
    quote = buf[i]
    j = i + 1
    n = len(buf)
    while j < n:
        c = buf[j]
        if c == 0x5C:  # backslash escape
            j += 2
            continue
        if c == quote:
            if j + 1 < n and buf[j + 1] == quote:  # doubled quote
                j += 2
                continue
            return j + 1
        j += 1
    return -1


def _split_insert(buf: bytes, eof: bool) -> _InsertHead | str | None:
    """Decide whether ``buf`` (the start of the query text) is ``INSERT ... FORMAT x`` + data.

    Returns an :class:`_InsertHead`, ``_QUERY`` when the body is a single statement, or
    ``None`` when more bytes are needed to tell. Quoted strings, quoted identifiers and
    comments are skipped, so a column named `` `format` `` is not taken for the clause.
    """
    need_more = None if not eof else _QUERY
    i, n = 0, len(buf)
    seen_insert = False
    settings_at: int | None = None
    while i < n:
        if i > _MAX_STATEMENT_BYTES:
            return _QUERY
        c = buf[i]
        if c in b" \t\r\n\f\v":
            i += 1
            continue
        if c in b"`\"'":
            j = _skip_quoted(buf, i)
            if j < 0:
                return need_more
            i = j
            continue
        if buf.startswith(b"--", i) or buf.startswith(b"#", i):
            j = buf.find(b"\n", i)
            if j < 0:
                return need_more
            i = j + 1
            continue
        if buf.startswith(b"/*", i):
            j = buf.find(b"*/", i + 2)
            if j < 0:
                return need_more
            i = j + 2
            continue
        word = _WORD_RE.match(buf, i)
        if word is None:
            if not seen_insert:
                return _QUERY
            i += 1
            continue
        if word.end() == n and not eof:
            return None
        token = word.group().upper()
        if not seen_insert:
            if token != b"INSERT":
                return _QUERY
            seen_insert = True
        elif token in (b"VALUES", b"SELECT", b"WITH", b"INFILE"):
            return _QUERY
        elif token == b"SETTINGS":
            settings_at = i
        elif token == b"FORMAT":
            p = word.end()
            while p < n and buf[p] in b" \t\r\n\f\v":
                p += 1
            name = _WORD_RE.match(buf, p)
            if name is None:
                return need_more if p >= n else _QUERY
            p = name.end()
            # Data starts after spaces/tabs and one optional newline (ParserInsertQuery).
            while p < n and buf[p] in b" \t\f":
                p += 1
            if p < n and buf[p] == 0x0D:
                p += 1
            if p >= n and not eof:
                return None
            if p < n and buf[p] == 0x0A:
                p += 1
            return _InsertHead(i, name.group().decode(), p, settings_at)
        i = word.end()
    return need_more


# --- the engine ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Call:
    """One request, resolved to what the engine must do."""

    sql: str | bytes
    params: dict[str, str] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    database: str | None = None
    default_format: str = "TabSeparated"
    read_only: bool = False
    session_id: str | None = None
    session_timeout: float = DEFAULT_SESSION_TIMEOUT_S
    session_check: bool = False
    close_session: bool = False
    insert_file: str | None = None
    insert: _InsertHead | None = None


@dataclass(slots=True)
class _Outcome:
    body: bytes
    fmt: str | None
    summary: dict[str, str]
    timezone: str


@dataclass(slots=True)
class _Handle:
    """One chdb connection handle: a session's state (current database, settings)."""

    conn: Any
    current_db: str = "default"
    session_db: str = "default"
    applied: dict[str, str] = field(default_factory=dict)
    baseline: dict[str, tuple[str, bool]] = field(default_factory=dict)
    timeout: float = DEFAULT_SESSION_TIMEOUT_S
    last_used: float = field(default_factory=time.monotonic)


def _quote_literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _quote_identifier(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _first_keyword(sql: str | bytes) -> str:
    text = sql.decode("utf-8", "replace") if isinstance(sql, bytes) else sql
    match = _FIRST_WORD_RE.match(text)
    return match.group(1).upper() if match else ""


class _Engine:
    """The process's chdb engine: a main handle plus one handle per HTTP session.

    Every method that touches chdb runs with ``self.lock`` held, from a worker thread.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        self._main: Any = None
        self._sessions: dict[str, _Handle] = {}
        self.version = ""
        self.timezone = "UTC"

    # lifecycle

    def open(self) -> None:
        import chdb

        with self.lock:
            self.path.mkdir(parents=True, exist_ok=True)
            self._main = chdb.connect(str(self.path))
            row = self._main.query("SELECT version(), timezone()", "TabSeparated").bytes()
            version, tz = row.decode().rstrip("\n").split("\t")
            self.version, self.timezone = version, tz

    def close(self) -> None:
        with self.lock:
            for handle in self._sessions.values():
                self._close_conn(handle.conn)
            self._sessions.clear()
            if self._main is not None:
                self._close_conn(self._main)
                self._main = None

    @staticmethod
    def _close_conn(conn: Any) -> None:
        try:
            conn.close()
        except Exception:
            log.debug("closing a chdb handle failed", exc_info=True)

    def _new_conn(self) -> Any:
        import chdb

        return chdb.connect(str(self.path))

    def sweep(self) -> None:
        with self.lock:
            self._sweep_locked()

    def _sweep_locked(self) -> None:
        now = time.monotonic()
        for sid in [s for s, h in self._sessions.items() if now - h.last_used > h.timeout]:
            log.debug("session %s expired", sid)
            self._close_conn(self._sessions.pop(sid).conn)

    # execution

    def execute(self, call: _Call) -> _Outcome:
        with self.lock:
            if self._main is None:
                raise ChdbHttpError.make(STD_EXCEPTION, "The server is shutting down")
            self._sweep_locked()
            handle, temporary = self._acquire(call)
            try:
                self._prepare(handle, call)
                return self._run(handle, call)
            finally:
                if temporary:
                    self._close_conn(handle.conn)
                elif call.close_session and call.session_id:
                    self._sessions.pop(call.session_id, None)
                    self._close_conn(handle.conn)
                else:
                    handle.last_used = time.monotonic()
                    handle.timeout = call.session_timeout

    def _acquire(self, call: _Call) -> tuple[_Handle, bool]:
        if not call.session_id:
            return _Handle(self._engine_call(self._new_conn)), True
        handle = self._sessions.get(call.session_id)
        if handle is None:
            if call.session_check:
                raise ChdbHttpError.make(SESSION_NOT_FOUND, f"Session {call.session_id} not found")
            handle = _Handle(self._engine_call(self._new_conn), timeout=call.session_timeout)
            self._sessions[call.session_id] = handle
        return handle, False

    @staticmethod
    def _engine_call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ChdbHttpError:
            raise
        except Exception as exc:
            raise ChdbHttpError.from_engine(exc) from exc

    def _q(self, handle: _Handle, sql: str, fmt: str = "TabSeparated") -> bytes:
        result = self._engine_call(handle.conn.query, sql, fmt)
        return bytes(result.bytes())

    def _prepare(self, handle: _Handle, call: _Call) -> None:
        """Bring the handle to this request's database and settings (lazily: only changes)."""
        if call.read_only and _first_keyword(call.sql) not in _READ_ONLY_KEYWORDS:
            raise ChdbHttpError.make(
                READONLY,
                "Cannot execute query in readonly mode. For queries over HTTP, method GET "
                "implies readonly. You should use method POST for modifying queries",
            )
        target = call.database or handle.session_db
        if target != handle.current_db:
            self._q(handle, f"USE {_quote_identifier(target)}")
            handle.current_db = target
        wanted = {} if _first_keyword(call.sql) == "SET" else call.settings
        stale = [k for k in handle.applied if k not in wanted]
        if stale:
            self._restore(handle, stale)
        changes = {k: v for k, v in wanted.items() if handle.applied.get(k) != v}
        if not changes:
            return
        for key in changes:
            if not _SETTING_NAME_RE.match(key):
                raise ChdbHttpError.make(UNKNOWN_SETTING, f"Unknown setting '{key}'")
        fresh = [k for k in changes if k not in handle.baseline]
        if fresh:
            names = ", ".join(_quote_literal(k) for k in fresh)
            rows = self._q(
                handle,
                f"SELECT name, value, changed FROM system.settings WHERE name IN ({names})",
                "JSONEachRow",
            )
            for line in rows.splitlines():
                row = json.loads(line)
                handle.baseline[row["name"]] = (row["value"], bool(row["changed"]))
            for key in fresh:
                handle.baseline.setdefault(key, ("", False))
        for key, value in changes.items():
            self._q(handle, f"SET {key} = {_quote_literal(value)}")
            handle.applied[key] = value

    def _restore(self, handle: _Handle, keys: list[str]) -> None:
        """Undo per-request settings; a handle that refuses (e.g. ``readonly``) is replaced."""
        try:
            for key in keys:
                value, changed = handle.baseline.get(key, ("", False))
                literal = (
                    value
                    if len(value) >= 2 and value[0] == "'" and value[-1] == "'"
                    else _quote_literal(value)
                )
                self._q(handle, f"SET {key} = {literal if changed else 'DEFAULT'}")
                handle.applied.pop(key, None)
                handle.baseline.pop(key, None)
        except ChdbHttpError:
            log.warning("could not undo per-query settings %s; reopening the handle", keys)
            self._close_conn(handle.conn)
            handle.conn = self._engine_call(self._new_conn)
            handle.current_db = "default"
            handle.applied.clear()
            handle.baseline.clear()
            target = handle.session_db
            if target != "default":
                self._q(handle, f"USE {_quote_identifier(target)}")
                handle.current_db = target

    def _run(self, handle: _Handle, call: _Call) -> _Outcome:
        params = call.params or None
        tz = call.settings.get("session_timezone") or self.timezone
        if call.insert is not None and call.insert_file is not None:
            result = self._engine_call(
                handle.conn.query, self._infile_sql(call), "TabSeparated", params=params
            )
            return _Outcome(b"", None, self._summary(result, 0), tz)

        sql = call.sql
        text = sql.decode("utf-8", "replace") if isinstance(sql, bytes) else sql
        if not text.strip():
            raise ChdbHttpError.make(SYNTAX_ERROR, "Empty query")
        keyword = _first_keyword(text)
        trailing = _TRAILING_FORMAT_RE.search(text)
        default_fmt = call.default_format
        out_fmt: str | None
        if trailing is not None:
            out_fmt = trailing.group(1)
            result = self._engine_call(handle.conn.query, sql, out_fmt, params=params)
            body = bytes(result.bytes())
        elif default_fmt.lower() in _WITH_NAMES and not _ANY_FORMAT_RE.search(text):
            result = self._engine_call(
                handle.conn.query, sql, _WITH_NAMES[default_fmt.lower()], params=params
            )
            body = bytes(result.bytes())
            if body:
                newline = body.find(b"\n")
                body = body[newline + 1 :] if newline >= 0 else b""
                out_fmt = default_fmt
            else:
                out_fmt = None
        else:
            result = self._engine_call(handle.conn.query, sql, default_fmt, params=params)
            body = bytes(result.bytes())
            out_fmt = default_fmt if body or keyword in _RESULT_KEYWORDS else None
        if keyword == "USE":
            current = self._q(handle, "SELECT currentDatabase()").decode().rstrip("\n")
            handle.current_db = handle.session_db = current
        return _Outcome(body, out_fmt, self._summary(result, len(body)), tz)

    @staticmethod
    def _infile_sql(call: _Call) -> str:
        assert call.insert is not None and call.insert_file is not None
        head = call.insert
        raw = call.sql if isinstance(call.sql, bytes) else call.sql.encode()
        end = head.format_at if head.settings_at is None else head.settings_at
        statement = raw[:end].decode("utf-8", "surrogateescape").rstrip()
        settings = (
            ""
            if head.settings_at is None
            else " " + raw[head.settings_at : head.format_at].decode().strip()
        )
        infile = _quote_literal(call.insert_file)
        return f"{statement} FROM INFILE {infile}{settings} FORMAT {head.format_name}"

    @staticmethod
    def _summary(result: Any, result_bytes: int) -> dict[str, str]:
        summary: dict[str, str] = {}
        for key, method in (
            ("read_rows", "rows_read"),
            ("read_bytes", "bytes_read"),
            ("written_rows", "rows_written"),
            ("written_bytes", "bytes_written"),
        ):
            try:
                summary[key] = str(int(getattr(result, method)()))
            except Exception:
                summary[key] = "0"
        summary["total_rows_to_read"] = summary["read_rows"]
        summary["result_bytes"] = str(result_bytes)
        try:
            summary["elapsed_ns"] = str(int(result.elapsed() * 1_000_000_000))
        except Exception:
            summary["elapsed_ns"] = "0"
        return summary


# --- the HTTP server ---------------------------------------------------------------------------


def _content_type(fmt: str | None) -> str:
    name = (fmt or "").lower()
    if name.startswith(("tabseparated", "tsv")):
        return "text/tab-separated-values; charset=UTF-8"
    if name.startswith("csv"):
        return "text/csv; charset=UTF-8; header=absent"
    if name.startswith("json"):
        return "application/json; charset=UTF-8"
    if name.startswith(("pretty", "vertical", "markdown", "xml", "values", "template")):
        return "text/plain; charset=UTF-8"
    if fmt:
        return "application/octet-stream"
    return "text/plain; charset=UTF-8"


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


class ChdbHttpServer:
    """ClickHouse's HTTP interface (the subset in the module docs) over the chdb engine at
    ``path``.

    ``port=0`` picks a free port; after :meth:`start` / :meth:`start_async` the bound port is in
    :attr:`port`. With ``user`` set, requests must authenticate as that user with ``password``.
    """

    def __init__(
        self,
        path: Path | str,
        host: str = "127.0.0.1",
        port: int = 0,
        user: str | None = None,
        password: str | None = None,
        *,
        workers: int = 4,
    ) -> None:
        self.path = Path(path).absolute()
        self.host = host
        self.port = port
        self.user = user
        self.password = password or ""
        self.display_name = socket.gethostname()
        self._workers = workers
        self._engine = _Engine(self.path)
        self._executor: ThreadPoolExecutor | None = None
        self._runner: web.AppRunner | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._tmpdir: str | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- lifecycle, inside a running event loop

    async def start_async(self) -> None:
        """Open the engine and listen; returns once the port is bound."""
        loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(self._workers, thread_name_prefix="chdb-http")
        try:
            await loop.run_in_executor(self._executor, self._engine.open)
            # Insert bodies are spooled next to the data, in a directory this process owns
            # while it holds the engine's lock: leftovers of a killed server are cleared here.
            tmpdir = self.path / "chdb_http_tmp"
            shutil.rmtree(tmpdir, ignore_errors=True)
            tmpdir.mkdir()
            self._tmpdir = str(tmpdir)
            app = web.Application(client_max_size=1 << 40)
            app.router.add_route("*", "/ping", self._handle_ping)
            app.router.add_route("*", "/", self._handle_root)
            app.router.add_route("*", "/{tail:.*}", self._handle_other)
            self._runner = web.AppRunner(
                app, access_log=None, handle_signals=False, auto_decompress=False
            )
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
            await site.start()
            for address in self._runner.addresses:
                if isinstance(address, tuple) and len(address) >= 2:
                    self.port = int(address[1])
                    break
            self._sweeper = asyncio.create_task(self._sweep_forever())
        except BaseException:
            await self.stop_async()
            raise
        log.info("chdb_http serving %s on http://%s:%d", self.path, self.host, self.port)

    async def stop_async(self) -> None:
        """Stop listening, finish in-flight requests, close the engine."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._executor is not None:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._executor, self._engine.close)
            self._executor.shutdown(wait=True)
            self._executor = None
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    async def _sweep_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(_SWEEP_INTERVAL_S)
            if self._executor is not None:
                await loop.run_in_executor(self._executor, self._engine.sweep)

    # --- lifecycle, from plain (threaded) code

    def start(self) -> None:
        """Serve from a background thread with its own event loop; returns once listening."""
        if self._thread is not None:
            raise RuntimeError("server already started")
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self.start_async())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.stop_async())
                loop.close()

        self._thread = threading.Thread(target=run, name="chdb-http-loop", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]

    def stop(self) -> None:
        """Stop a server started with :meth:`start`."""
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._thread = None
        self._loop = None

    def __enter__(self) -> ChdbHttpServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # --- handlers

    async def _handle_ping(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text="Ok.\n")

    async def _handle_other(self, request: web.Request) -> web.StreamResponse:
        return web.Response(
            status=404,
            text=f"There is no handle {request.path}\n\nUse / or /ping.\n",
        )

    async def _handle_root(self, request: web.Request) -> web.StreamResponse:
        query_id = request.query.get("query_id") or str(uuid.uuid4())
        if (
            request.method in ("GET", "HEAD")
            and "query" not in request.query
            and not request.can_read_body
        ):
            return web.Response(text="Ok.\n")
        try:
            self._authenticate(request)
            call = await self._read_call(request)
            loop = asyncio.get_running_loop()
            assert self._executor is not None
            # The worker removes the insert's temp file itself, after the engine is done
            # with it, even when this request is cancelled meanwhile.
            outcome = await loop.run_in_executor(self._executor, self._execute, call)
        except ChdbHttpError as exc:
            return self._error_response(exc, query_id)
        except Exception as exc:
            log.exception("chdb_http: unexpected failure")
            return self._error_response(ChdbHttpError.make(STD_EXCEPTION, repr(exc)), query_id)
        headers = self._base_headers(query_id, outcome.timezone)
        headers["X-ClickHouse-Summary"] = json.dumps(outcome.summary, separators=(",", ":"))
        if outcome.fmt is not None:
            headers["X-ClickHouse-Format"] = outcome.fmt
        headers["Content-Type"] = _content_type(outcome.fmt)
        return web.Response(body=outcome.body, headers=headers)

    def _execute(self, call: _Call) -> _Outcome:
        try:
            return self._engine.execute(call)
        finally:
            if call.insert_file is not None:
                with contextlib.suppress(OSError):
                    os.unlink(call.insert_file)

    def _base_headers(self, query_id: str, tz: str | None = None) -> dict[str, str]:
        return {
            "X-ClickHouse-Server-Display-Name": self.display_name,
            "X-ClickHouse-Query-Id": query_id,
            "X-ClickHouse-Timezone": tz or self._engine.timezone,
        }

    def _error_response(self, exc: ChdbHttpError, query_id: str) -> web.Response:
        headers = self._base_headers(query_id)
        headers["X-ClickHouse-Exception-Code"] = str(exc.code)
        headers["Content-Type"] = "text/plain; charset=UTF-8"
        version = f" (version {self._engine.version})" if self._engine.version else ""
        return web.Response(
            status=exc.http_status, text=f"{exc.message}{version}\n", headers=headers
        )

    def _authenticate(self, request: web.Request) -> None:
        if self.user is None:
            return
        user = request.headers.get("X-ClickHouse-User")
        password = request.headers.get("X-ClickHouse-Key")
        auth = request.headers.get("Authorization", "")
        if user is None and auth.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(auth[6:].strip()).decode()
            except ValueError:
                decoded = ""
            user, _, password = decoded.partition(":")
        if user is None:
            user = request.query.get("user")
            password = request.query.get("password")
        user = user or "default"
        password = password or ""
        ok = hmac.compare_digest(user.encode(), self.user.encode()) & hmac.compare_digest(
            password.encode(), self.password.encode()
        )
        if not ok:
            raise ChdbHttpError.make(
                AUTHENTICATION_FAILED,
                f"{user}: Authentication failed: password is incorrect, "
                "or there is no user with such name",
            )

    async def _read_call(self, request: web.Request) -> _Call:
        """Parameters and query from the URL and body; inline insert data to a temp file."""
        params: dict[str, str] = {k: v for k, v in request.query.items()}
        for unsupported in ("compress", "decompress"):
            if _truthy(params.get(unsupported)):
                raise ChdbHttpError.make(
                    NOT_IMPLEMENTED,
                    f"ClickHouse block compression ({unsupported}=1) is not supported here",
                )
        query = params.get("query", "")
        head = bytearray(query.encode() + b"\n" if query else b"")
        tmp_path: str | None = None
        split: _InsertHead | str | None = None
        out: Any = None
        try:
            if request.content_type == "multipart/form-data":
                form = await request.post()
                for key, value in form.items():
                    if not isinstance(value, str):
                        raise ChdbHttpError.make(
                            NOT_IMPLEMENTED, "External data (file parts) is not supported here"
                        )
                    params[key] = value
                head = bytearray(params.get("query", "").encode())
                split = _QUERY
            elif request.can_read_body:
                decoder = _Decoder(request.headers.get("Content-Encoding", ""))
                async for chunk in request.content.iter_any():
                    data = decoder.feed(chunk)
                    if out is not None:
                        out.write(data)
                        continue
                    head += data
                    if split is None:
                        split = _split_insert(bytes(head), eof=False)
                        if isinstance(split, _InsertHead):
                            out, tmp_path = self._open_tmp()
                            out.write(head[split.data_at :])
                            del head[split.data_at :]
                decoder.finish()
            if split is None:
                split = _split_insert(bytes(head), eof=True)
                if isinstance(split, _InsertHead):
                    out, tmp_path = self._open_tmp()
                    out.write(head[split.data_at :])
                    del head[split.data_at :]
            if out is not None:
                out.close()
            call = self._make_call(request, params, bytes(head))
        except BaseException:
            if out is not None:
                out.close()
            if tmp_path is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp_path)
            raise
        if isinstance(split, _InsertHead):
            call.insert = split
            call.insert_file = tmp_path
        return call

    def _open_tmp(self) -> tuple[Any, str]:
        fd, name = tempfile.mkstemp(suffix=".data", dir=self._tmpdir)
        return os.fdopen(fd, "wb", buffering=1 << 20), name

    @staticmethod
    def _make_call(request: web.Request, params: dict[str, str], sql: bytes) -> _Call:
        bind: dict[str, str] = {}
        settings: dict[str, str] = {}
        for key, value in params.items():
            if key.startswith("param_"):
                bind[key[6:]] = value
            elif key not in _TRANSPORT_PARAMS and key not in _HTTP_ONLY_SETTINGS:
                settings[key] = value
        try:
            text: str | bytes = sql.decode("utf-8")
        except UnicodeDecodeError:
            text = sql  # binary binds: chdb takes the bytes as they are
        try:
            timeout = float(params.get("session_timeout") or DEFAULT_SESSION_TIMEOUT_S)
        except ValueError:
            timeout = DEFAULT_SESSION_TIMEOUT_S
        return _Call(
            sql=text,
            params=bind,
            settings=settings,
            database=params.get("database") or None,
            default_format=params.get("default_format") or "TabSeparated",
            read_only=request.method in ("GET", "HEAD"),
            session_id=params.get("session_id") or None,
            session_timeout=min(max(timeout, 1.0), MAX_SESSION_TIMEOUT_S),
            session_check=_truthy(params.get("session_check")),
            close_session=_truthy(params.get("close_session")),
        )


# --- command line ------------------------------------------------------------------------------


async def _serve(server: ChdbHttpServer) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await server.start_async()
    print(f"chdb_http listening on {server.host}:{server.port}", flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop_async()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.chdb_http",
        description="Serve a chdb data path over ClickHouse's HTTP interface until SIGTERM.",
    )
    parser.add_argument("--path", required=True, type=Path, help="chdb data directory")
    parser.add_argument("--port", type=int, default=8123, help="TCP port (0 = any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("--user", default=None, help="require this user (basic auth)")
    parser.add_argument(
        "--password",
        default=None,
        help="password for --user (default: $CHDB_HTTP_PASSWORD or empty)",
    )
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    password = args.password
    if password is None:
        password = os.environ.get("CHDB_HTTP_PASSWORD")
    server = ChdbHttpServer(args.path, args.host, args.port, args.user, password)
    asyncio.run(_serve(server))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
