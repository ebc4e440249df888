"""Live per-unit numbers from the worker's in-memory windows: the JSON snapshot and the text
summary printed by ``emc run``."""

from __future__ import annotations

from typing import Any

from streams.core.indicators import COUNTER_INDEX, rates
from streams.core.pipeline import BatchProcessor
from streams.core.registry import UnitRegistry
from streams.core.rollup import NO_WATERMARK
from streams.core.windows import ROLLING_VIEWS


def live_snapshot(
    processor: BatchProcessor, registry: UnitRegistry, now_ms: int
) -> list[dict[str, Any]]:
    """One dict per unit this worker holds state for: rolling counters and rates at ``now_ms``."""
    rows: list[dict[str, Any]] = []
    held = set(processor.unit_table)
    for unit in registry.units:
        if unit.code not in held:
            continue
        windows = processor.unit_windows(unit.code)
        row: dict[str, Any] = {
            "unit_code": unit.code,
            "name_vi": unit.name_vi,
            "kind": unit.kind,
            "last_receipt_at_ms": None
            if windows.watermark_ms == NO_WATERMARK
            else windows.watermark_ms,
        }
        for view in ROLLING_VIEWS:
            counts = windows.rolling(view, now_ms)
            row[view] = {
                "received": int(counts[COUNTER_INDEX["received"]]),
                "online": int(counts[COUNTER_INDEX["online"]]),
                "remote": int(counts[COUNTER_INDEX["remote"]]),
                **rates(counts),
            }
        rows.append(row)
    return rows


def _pct(value: float | None) -> str:
    return "   -  " if value is None else f"{value * 100:5.1f}%"


def render_summary(
    processor: BatchProcessor, registry: UnitRegistry, now_ms: int, top: int = 8
) -> str:
    """A short text table: totals, then the busiest units over the last 60 minutes."""
    rows = live_snapshot(processor, registry, now_ms)
    s = processor.stats
    active = [r for r in rows if r["60m"]["received"] > 0]
    total = sum(r["60m"]["received"] for r in rows)
    online = sum(r["60m"]["online"] for r in rows)
    remote = sum(r["60m"]["remote"] for r in rows)
    online_share = online / total if total else None
    remote_share = remote / total if total else None
    lines = [
        f"[emc] consumed {s.consumed:,}  accepted {s.accepted:,}  duplicates {s.duplicates:,}  "
        f"late {s.late:,}  dead-lettered {sum(s.dead_letters.values()):,}  "
        f"rollup rows {s.rollup_rows:,}",
        f"[emc] last 60 min: {total:,} receipts from {len(active)} units; online "
        f"{_pct(online_share)}  remote {_pct(remote_share)}",
        f"  {'unit':<24} {'recv 60m':>8} {'online':>7} {'remote':>7} {'recv 24h':>8} {'online':>7}",
    ]
    busiest = sorted(active, key=lambda r: -r["60m"]["received"])[:top]
    for r in busiest:
        lines.append(
            f"  {r['name_vi'][:24]:<24} {r['60m']['received']:>8} {_pct(r['60m']['online_rate'])} "
            f"{_pct(r['60m']['remote_rate'])} {r['24h']['received']:>8} "
            f"{_pct(r['24h']['online_rate'])}"
        )
    return "\n".join(lines)
