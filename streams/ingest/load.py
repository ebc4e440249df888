"""A bounded load test of the HTTP ingest on loopback (``emc bench --ingest``).

Sends at most ``calls`` receipts (distinct dossiers, so every call produces) from
``concurrency`` client tasks to one ingest, stops early after ``max_seconds``, and reports
accepted calls per second and latency percentiles (each call answered only after the broker's
acknowledgement, so the latency includes the produce round trip).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

import aiohttp


@dataclass(frozen=True, slots=True)
class LoadResult:
    """Counts, the wall time (seconds), throughput (calls/s) and latency (milliseconds)."""

    sent: int
    ok: int
    failed: int
    wall_s: float
    calls_per_s: float
    p50_ms: float
    p99_ms: float


def _call(n: int, site_id: str) -> bytes:
    return json.dumps(
        {
            "MaHoSo": f"LOAD-{n:08d}",
            "SiteId": site_id,
            "CodeTTHC": "1.004946",
            "NameTTHC": "load",
            "Status": "1",
            "FormsReception": "1",
            "FormsPayments": "0",
            "Level": "4",
            "IsFromDVCQG": "0",
            "IsDVCBC": "0",
            "User": {"ID_local": "u", "ID_QG": "q", "TYPE": "2"},
        }
    ).encode()


async def run_load(
    url: str,
    token: str,
    site_id: str,
    calls: int = 5_000,
    concurrency: int = 32,
    max_seconds: float = 30.0,
) -> LoadResult:
    """POST up to ``calls`` tracking calls to ``url`` (…/TrackingMCDT); see the module doc."""
    latencies: list[float] = []
    failed = 0
    next_call = 0
    deadline = time.perf_counter() + max_seconds
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal next_call, failed
        while next_call < calls and time.perf_counter() < deadline:
            n = next_call
            next_call += 1
            started = time.perf_counter()
            async with session.post(url, data=_call(n, site_id), headers=headers) as resp:
                await resp.read()
                if resp.status == 200:
                    latencies.append((time.perf_counter() - started) * 1000)
                else:
                    failed += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
    wall = time.perf_counter() - started
    ordered = sorted(latencies)

    def pct(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")

    return LoadResult(
        sent=next_call,
        ok=len(ordered),
        failed=failed,
        wall_s=wall,
        calls_per_s=len(ordered) / wall if wall > 0 else 0.0,
        p50_ms=pct(0.50),
        p99_ms=pct(0.99),
    )
