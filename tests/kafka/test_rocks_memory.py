"""The RocksDB state store's memory bound (``EMC_STREAM__ROCKSDB_MEMORY_MIB``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from streams.kafka.state_store import RocksValues
from streams.settings import Settings


def _rss_mib() -> float:
    with open(f"/proc/{os.getpid()}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_setting_has_a_default_and_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().stream.rocksdb_memory_mib == 64
    monkeypatch.setenv("EMC_STREAM__ROCKSDB_MEMORY_MIB", "24")
    assert Settings().stream.rocksdb_memory_mib == 24


def test_writing_far_more_than_the_bound_keeps_memory_near_it(tmp_path: Path) -> None:
    values = RocksValues(tmp_path / "rocks", memory_mib=16)
    try:
        before = _rss_mib()
        blob = os.urandom(1000)
        for i in range(200_000):  # ~200 MB of values
            values[f"U{i % 83}|{i}"] = blob[i % 500 :] + i.to_bytes(4, "little")
        for i in range(0, 200_000, 7):  # and read a spread of them back (fills the cache)
            assert values[f"U{i % 83}|{i}"].endswith(i.to_bytes(4, "little"))
        grown = _rss_mib() - before
    finally:
        values.close()
    # 16 MiB of cache and memtables plus RocksDB's own overheads: measured 21 MiB (RocksDB's
    # default options: 69 MiB for the same writes).
    assert grown < 16 + 24, f"RSS grew by {grown:.0f} MiB"
