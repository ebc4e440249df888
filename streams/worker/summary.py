"""Live per-unit numbers from the worker's in-memory windows: the JSON snapshot and the text
summary printed by ``emc run``.

The numbers are the live view's (:mod:`streams.web.live`): the same per-view fields and latest
receipt time, nested by view here instead of flattened into ``received_60m``….
"""

from __future__ import annotations

from typing import Any

from streams.core.pipeline import BatchProcessor
from streams.core.registry import UnitRegistry
from streams.core.windows import ROLLING_VIEWS
from streams.web.live import last_receipt_at_ms, view_numbers


def live_snapshot(
    processor: BatchProcessor, registry: UnitRegistry, now_ms: int
) -> list[dict[str, Any]]:
    """One dict per unit this worker holds state for: rolling counters and rates at instant
    ``now_ms`` (epoch ms), one nested dict per :data:`~streams.core.windows.ROLLING_VIEWS` view."""
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
            "last_receipt_at_ms": last_receipt_at_ms(windows),
        }
        for view in ROLLING_VIEWS:
            row[view] = view_numbers(windows.rolling(view, now_ms))
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
