"""How a unit's windows go to the changelog: one record per changed bucket, then a small header.

The state table holds a unit's windows as one value (:meth:`streams.core.rollup.UnitWindows.
to_bytes`, format 3: six header words, then per bucket its window index, start and counters).
That value grows with the buckets a unit keeps: in real time about 60 one-minute, 169 one-hour
(seven days of lateness) and 31 one-day buckets, some 35 KB, rewritten whenever a batch touches
the unit. On the changelog only what changed is written:

- a **bucket record** per bucket whose counters changed, keyed ``{unit_code}\\x1f{window index}:
  {start ms}`` (:func:`bucket_key`), holding the seq of the batch that wrote it, the counters,
  and the counters before that batch (absent for a new bucket): :func:`bucket_value`;
- then the **header record** under ``{unit_code}``: the six header words with format 4 (the
  buckets are in their own records) and the bucket count (:func:`header_value`);
- then a **tombstone** per bucket the batch evicted.

The crash rule is the dossier states' (streams/core/lifecycle.py): the header carries the unit's
seq and is written after the bucket records, so a bucket record whose seq is above its header's
was written by a batch whose header was lost, and the bucket's state is its counters before that
batch (:func:`assemble`). The changelog producer keeps a partition's records in order, so a lost
header also means lost tombstones after it: a bucket the lost batch evicted is still there.

A value under :data:`SPLIT_FROM_BYTES` (a unit with few buckets, as in the bench's short streams
and the tests) is logged whole, format 3, as before bucket records existed, and so is a value
that is not format 3 (a test's opaque bytes); a unit that was logged as buckets then also gets
tombstones for them, after the whole value. A restore reads a whole value as the unit's windows
and any bucket record left under it as a leftover of a batch whose header was lost.

Upgrading is one way: a worker from before bucket records reads whole values only, and stops on a
format-4 header (``unknown unit window state format 4``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

WORD = 8
"""Bytes per word of a windows value (little-endian int64)."""
HEADER_WORDS = 6
"""``[format, watermark, n_counters, n_buckets, seq, receipts_ms]``."""
FULL_FORMAT = 3
"""The table's windows value: header and every bucket."""
SPLIT_FORMAT = 4
"""A header record: the header alone, its buckets in bucket records."""
BUCKET_SEPARATOR = "\x1f"
"""Between the unit code and the bucket in a bucket record's key (a state key with ``|`` is a
dossier's, one with this separator and no ``|`` a bucket's)."""
SPLIT_FROM_BYTES = 4096
"""Windows values from this size (about 30 buckets) are logged as bucket records. Below it one
record is cheaper: writing 5 buckets took 1.7 us whole and 14.7 us as records through
:class:`~streams.kafka.state_store.StateStore` (timeit), and saves no bytes when most of a
unit's buckets change in a batch, as a small unit's do."""
_BUCKET_MAGIC = b"EMW1"
_BUCKET_HEAD = struct.Struct("<4sqIB")
"""Bucket record value header: magic, seq of the batch that wrote it, counters, has previous."""
_HEAD = struct.Struct("<6q")


@dataclass(slots=True)
class Windows:
    """A format-3 windows value taken apart: its header words and its bucket rows.

    ``rows`` maps a bucket's first two words (window index and start, as 16 bytes) to its whole
    row (those two words and the counters, ``(2 + n_counters) * 8`` bytes), in value order."""

    header: tuple[int, int, int, int, int, int]
    rows: dict[bytes, bytes] = field(default_factory=dict)

    @property
    def seq(self) -> int:
        return self.header[4]

    @property
    def n_counters(self) -> int:
        return self.header[2]

    def value(self) -> bytes:
        """The format-3 value again: the header words, then the rows in order."""
        return _HEAD.pack(*self.header) + b"".join(self.rows.values())


def parse(value: bytes | None) -> Windows | None:
    """``value`` taken apart if it is a well-formed format-3 windows value, else ``None``."""
    if value is None or len(value) < HEADER_WORDS * WORD:
        return None
    header = _HEAD.unpack_from(value)
    fmt, _, n_counters, n_buckets, _, _ = header
    row = (2 + n_counters) * WORD
    if fmt != FULL_FORMAT or n_counters < 0 or len(value) != _HEAD.size + n_buckets * row:
        return None
    rows = {
        value[at : at + 2 * WORD]: value[at : at + row] for at in range(_HEAD.size, len(value), row)
    }
    return Windows(header, rows)


def header_value(windows: Windows) -> bytes:
    """The header record of ``windows``: its header words, format 4."""
    _, watermark, n_counters, n_buckets, seq, receipts = windows.header
    return _HEAD.pack(SPLIT_FORMAT, watermark, n_counters, n_buckets, seq, receipts)


def parse_header(value: bytes | None) -> tuple[int, int, int, int, int, int] | None:
    """The header words of a header record, else ``None``."""
    if value is None or len(value) != _HEAD.size:
        return None
    header = _HEAD.unpack_from(value)
    return header if header[0] == SPLIT_FORMAT else None


def bucket_key(unit_code: str, bucket: bytes) -> str:
    """The changelog key of ``unit_code``'s bucket (``bucket``: its 16-byte row prefix)."""
    window, start = struct.unpack("<qq", bucket)
    return f"{unit_code}{BUCKET_SEPARATOR}{window}:{start}"


def bucket_of_key(key: str) -> tuple[str, bytes] | None:
    """(unit code, 16-byte row prefix) of a bucket record key, else ``None``."""
    if "|" in key or BUCKET_SEPARATOR not in key:
        return None
    unit_code, _, bucket = key.partition(BUCKET_SEPARATOR)
    window, _, start = bucket.partition(":")
    try:
        return unit_code, struct.pack("<qq", int(window), int(start))
    except (ValueError, struct.error):
        return None


def bucket_value(seq: int, n_counters: int, row: bytes, previous: bytes | None) -> bytes:
    """A bucket record: written by the unit's batch ``seq``, the bucket's ``row`` now and its
    row before that batch (``None``: the batch created it)."""
    head = _BUCKET_HEAD.pack(_BUCKET_MAGIC, seq, n_counters, previous is not None)
    return head + row[2 * WORD :] + (previous[2 * WORD :] if previous is not None else b"")


def split_records(
    unit_code: str, old: Windows | None, new: Windows, logged: bool
) -> tuple[list[tuple[str, bytes]], bytes, list[str]]:
    """The changelog records that take ``unit_code``'s windows from ``old`` to ``new``: bucket
    records (key, value) of the buckets that changed, the header record, and the keys of the
    buckets to tombstone after it.

    ``logged``: the changelog holds ``old`` as bucket records already; if not (a new unit, or
    ``old`` was read from a format-3 record), every bucket of ``new`` is written, so the header
    that supersedes that record leaves none behind.
    """
    before = old.rows if old is not None else {}
    n_counters = new.n_counters
    records: list[tuple[str, bytes]] = []
    for bucket, row in new.rows.items():
        previous = before.get(bucket)
        if logged and previous == row:
            continue
        if previous is not None and len(previous) < len(row):
            # written before counters were added: they were zero (as UnitWindows.from_bytes pads)
            previous += b"\x00" * (len(row) - len(previous))
        elif previous is not None and len(previous) > len(row):
            previous = previous[: len(row)]
        records.append(
            (bucket_key(unit_code, bucket), bucket_value(new.seq, n_counters, row, previous))
        )
    gone = [bucket_key(unit_code, b) for b in before if b not in new.rows] if logged else []
    return records, header_value(new), gone


@dataclass(slots=True)
class Restored:
    """One unit read back from the changelog: its windows value and the repairs to write."""

    value: bytes | None
    """The format-3 value for the table (``None``: nothing to hold)."""
    windows: Windows | None
    """``value`` taken apart when the changelog holds the unit as bucket records (see
    :func:`split_records`), else ``None``."""
    repairs: list[tuple[str, bytes | None]]
    """Bucket records to rewrite (or tombstone) because they were ahead of the header."""


def assemble(unit_code: str, head: bytes | None, buckets: dict[bytes, bytes]) -> Restored:
    """The unit's windows from its latest unit-key record ``head`` and its latest bucket
    records (row prefix → value), judged by the header's seq.

    A bucket record written by a batch after the header's (its header was lost in a crash)
    stands for the bucket's previous counters, or for no bucket if it had none; it is rewritten
    as such (``repairs``), so a replay that brings the unit to that seq again without touching
    the bucket cannot make the lost counters current. Under a format-3 record (or none) every
    bucket record is such a leftover, since a header record is written after them.
    """
    header = parse_header(head)
    if header is None:  # a whole value, an opaque one, or none: it stands alone
        return Restored(head, None, [(bucket_key(unit_code, b), None) for b in buckets])
    _, watermark, n_counters, _, seq, receipts = header
    rows: dict[bytes, bytes] = {}
    repairs: list[tuple[str, bytes | None]] = []
    for bucket, value in buckets.items():
        magic, written, counters, has_previous = _BUCKET_HEAD.unpack_from(value)
        body = value[_BUCKET_HEAD.size :]
        size = counters * WORD
        if magic != _BUCKET_MAGIC or len(body) != size * (2 if has_previous else 1):
            raise ValueError(f"not a bucket record for {unit_code}")
        if written > seq:
            key = bucket_key(unit_code, bucket)
            if has_previous:
                previous = bucket + body[size:]
                rows[bucket] = previous
                repairs.append((key, bucket_value(seq, counters, previous, None)))
            else:
                repairs.append((key, None))
            continue
        if counters != n_counters:
            raise ValueError(f"bucket of {unit_code} has {counters} counters, not {n_counters}")
        rows[bucket] = bucket + body[:size]
    # window by window, each by start (the order is not part of the state: lookups are by key)
    ordered = {b: rows[b] for b in sorted(rows, key=_bucket_order)}
    windows = Windows((FULL_FORMAT, watermark, n_counters, len(rows), seq, receipts), ordered)
    return Restored(windows.value(), windows, repairs)


def _bucket_order(bucket: bytes) -> tuple[int, int]:
    """(window index, start ms) of a row prefix."""
    window, start = struct.unpack("<qq", bucket)
    return window, start
