"""Access tokens for the dashboard, the JSON API and ``emc top``.

Two roles:

- ``national`` sees every unit;
- ``unit`` is bound to one ``unit_code`` and sees only that unit.

Tokens are random (256 bits) and shown in plaintext once, when issued. What is stored is their
SHA-256 digest; a presented token is hashed and compared with :func:`hmac.compare_digest`. For
random 256-bit secrets a fast hash is enough: there is nothing to brute-force from a dictionary.

Issued tokens look like ``emc_<id>_<secret>``: the ``id`` (12 hex digits) is public, it names the
token in ``emc token list`` / ``emc token revoke``, and lets the server find the one record to
compare against.

Two sources, both read by :class:`TokenStore`:

1. A JSON file (default ``$EMC_DATA_DIR/web_tokens.json``, mode 0600), written by
   ``emc token issue|revoke`` under an exclusive lock and replaced atomically. The worker
   re-reads it whenever its modification time or size changes, so issuing and revoking take
   effect on the next request while the worker runs.
2. ``EMC_WEB__TOKENS``: comma-separated ``ROLE[:UNIT_CODE]=VALUE`` entries, where ``VALUE`` is
   either ``sha256:<64 hex digits>`` (the digest of a token) or a plaintext token (hashed when
   read, never kept). Meant for deployments and tests; such tokens cannot be revoked by command.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

from streams.web.errors import TokenError

Role = Literal["national", "unit"]
ROLES: tuple[Role, ...] = ("national", "unit")
TOKEN_PREFIX = "emc_"
_ID_PATTERN = re.compile(r"[0-9a-f]{12}")
_HASH_PATTERN = re.compile(r"[0-9a-f]{64}")
_FILE_VERSION = 1


def token_digest(token: str) -> str:
    """Hex SHA-256 of a plaintext token (what the store keeps)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """One token as stored: never the plaintext. Times are epoch milliseconds."""

    id: str
    role: Role
    unit_code: str | None
    name: str
    sha256: str
    created_at_ms: int
    revoked_at_ms: int | None = None
    source: Literal["file", "env"] = "file"

    @property
    def active(self) -> bool:
        return self.revoked_at_ms is None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request is made by: the token's role and, for ``unit`` tokens, its unit."""

    token_id: str
    role: Role
    unit_code: str | None
    name: str

    def may_see(self, unit_code: str) -> bool:
        """Whether this principal may read ``unit_code``'s data."""
        return self.role == "national" or self.unit_code == unit_code

    def as_json(self) -> dict[str, Any]:
        return {
            "token_id": self.token_id,
            "role": self.role,
            "unit_code": self.unit_code,
            "name": self.name,
        }


def _check_role(role: str, unit_code: str | None) -> Role:
    if role not in ROLES:
        raise TokenError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    if role == "unit" and not unit_code:
        raise TokenError("a unit token needs a unit code (--unit CODE)")
    if role == "national" and unit_code:
        raise TokenError("a national token is not bound to a unit; drop --unit")
    return role


def parse_env_tokens(spec: str) -> list[TokenRecord]:
    """Records from an ``EMC_WEB__TOKENS`` value (see the module docstring for the syntax)."""
    records: list[TokenRecord] = []
    for n, raw in enumerate(spec.split(","), start=1):
        entry = raw.strip()
        if not entry:
            continue
        who, sep, value = entry.partition("=")
        if not sep or not value:
            raise TokenError(f"EMC_WEB__TOKENS entry {n}: expected ROLE[:UNIT_CODE]=TOKEN")
        role_text, _, unit = who.strip().partition(":")
        role = _check_role(role_text.strip(), unit.strip() or None)
        value = value.strip()
        if value.startswith("sha256:"):
            digest = value.removeprefix("sha256:").lower()
            if not _HASH_PATTERN.fullmatch(digest):
                raise TokenError(f"EMC_WEB__TOKENS entry {n}: sha256: needs 64 hex digits")
        else:
            digest = token_digest(value)
        records.append(
            TokenRecord(
                id=f"env-{n}",
                role=role,
                unit_code=unit.strip() or None,
                name=f"EMC_WEB__TOKENS entry {n}",
                sha256=digest,
                created_at_ms=0,
                source="env",
            )
        )
    return records


class TokenStore:
    """Tokens from the token file and the environment; answers "who holds this token?".

    The file is re-read when it changes on disk (checked with one ``stat`` per lookup), so a
    long-running worker sees tokens issued or revoked by ``emc token`` in another process.
    """

    def __init__(self, path: Path, env_spec: str | None = None) -> None:
        self.path = path
        self._env = parse_env_tokens(env_spec) if env_spec else []
        self._file_records: dict[str, TokenRecord] = {}
        self._file_stamp: tuple[int, int, int] | None = None

    # -- reading ------------------------------------------------------------------------------
    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _refresh(self) -> None:
        stamp = self._stamp()
        if stamp == self._file_stamp:
            return
        self._file_records = {r.id: r for r in self._read_file()} if stamp else {}
        self._file_stamp = stamp

    def _read_file(self) -> list[TokenRecord]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise TokenError(f"{self.path}: cannot read the token file: {exc}") from exc
        try:
            return [TokenRecord(**{**item, "source": "file"}) for item in data.get("tokens", [])]
        except TypeError as exc:
            raise TokenError(f"{self.path}: malformed token record: {exc}") from exc

    def records(self) -> list[TokenRecord]:
        """Every known token (file first, then environment), revoked ones included."""
        self._refresh()
        return [*self._file_records.values(), *self._env]

    def authenticate(self, token: str | None) -> Principal | None:
        """The principal holding ``token``, or ``None`` (missing, unknown or revoked)."""
        if not token:
            return None
        digest = token_digest(token)
        candidates: list[TokenRecord]
        parts = token.split("_", 2)
        if token.startswith(TOKEN_PREFIX) and len(parts) == 3 and _ID_PATTERN.fullmatch(parts[1]):
            try:
                self._refresh()
            except TokenError:
                return None  # a broken file grants nothing
            record = self._file_records.get(parts[1])
            candidates = [record] if record is not None else []
        else:
            candidates = []
        candidates.extend(self._env)
        found: TokenRecord | None = None
        for record in candidates:
            # Compare against every candidate so the time taken does not tell which matched.
            if hmac.compare_digest(record.sha256, digest) and found is None:
                found = record
        if found is None or not found.active:
            return None
        return Principal(found.id, found.role, found.unit_code, found.name)

    # -- writing (emc token …) ------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        with lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _write_file(self, records: list[TokenRecord]) -> None:
        payload = {
            "version": _FILE_VERSION,
            "tokens": [
                {k: v for k, v in asdict(r).items() if k != "source"}
                for r in records
                if r.source == "file"
            ],
        }
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=1, ensure_ascii=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)

    def issue(
        self, role: str, unit_code: str | None = None, name: str = ""
    ) -> tuple[TokenRecord, str]:
        """Create a token; returns its record and the plaintext (shown once, never stored)."""
        checked = _check_role(role, unit_code)
        with self._locked():
            existing = self._read_file()
            taken = {r.id for r in existing}
            token_id = secrets.token_hex(6)
            while token_id in taken:
                token_id = secrets.token_hex(6)
            plaintext = f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
            record = TokenRecord(
                id=token_id,
                role=checked,
                unit_code=unit_code if checked == "unit" else None,
                name=name or f"{checked}{':' + unit_code if unit_code else ''}",
                sha256=token_digest(plaintext),
                created_at_ms=int(time.time() * 1000),
            )
            self._write_file([*existing, record])
        return record, plaintext

    def revoke(self, token_id: str) -> TokenRecord:
        """Mark a file token revoked (kept in the file, so ``list`` shows when)."""
        with self._locked():
            existing = self._read_file()
            for i, record in enumerate(existing):
                if record.id == token_id:
                    if record.active:
                        record = replace(record, revoked_at_ms=int(time.time() * 1000))
                        existing[i] = record
                        self._write_file(existing)
                    return record
        if any(r.id == token_id for r in self._env):
            raise TokenError(f"{token_id} comes from EMC_WEB__TOKENS: remove it there")
        raise TokenError(f"no token with id {token_id!r} in {self.path}")
