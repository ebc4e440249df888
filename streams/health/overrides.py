"""Operator-set statuses: an override wins over the computed status while it is in force.

Seed 001's appendix has one status no rule produces: "Đã kết nối, đang phối hợp xử lý" (BHXH), a
case an operator is working on. An override names the unit, the status (``coordinating``, or any
other status of :data:`~streams.health.statuses.STATUS_LABELS`), why, who set it, from when and,
optionally, until when. It is stored in ``emc.unit_status_overrides`` (one row per override,
rewritten with a higher ``version`` when cleared) and applied after the rules in every
evaluation, so the status it imposes, and its end, land in ``emc.unit_status_history`` like any
other transition.

In force at ``t`` (epoch ms): ``start_time <= t`` and ``t`` before ``end_time`` (if any) and
before ``cleared_at`` (if cleared). Of several in force, the latest started wins.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

from sinks.clickhouse import ClickHouseSink
from sinks.health_schema import OVERRIDE_COLUMNS
from streams.core.localtime import format_local
from streams.health.errors import HealthError
from streams.health.statuses import STATUS_LABELS, UnitStatus

AT = "fromUnixTimestamp64Milli({at_ms:Int64}, 'Asia/Ho_Chi_Minh')"


@dataclass(frozen=True, slots=True)
class StatusOverride:
    """One operator-set status; times epoch ms (UTC), ``end_ms``/``cleared_at_ms`` ``None`` =
    open-ended / not cleared."""

    override_id: str
    unit_code: str
    status: str
    reason: str
    author: str
    start_ms: int
    end_ms: int | None
    created_at_ms: int
    cleared_at_ms: int | None = None
    cleared_by: str | None = None

    def in_force(self, at_ms: int) -> bool:
        """Whether the override decides the unit's status at ``at_ms`` (epoch ms)."""
        if at_ms < self.start_ms:
            return False
        if self.end_ms is not None and at_ms >= self.end_ms:
            return False
        return self.cleared_at_ms is None or at_ms < self.cleared_at_ms

    def wording(self) -> str:
        """The reason shown in reports and the history, in Vietnamese."""
        until = f" đến {format_local(self.end_ms)}" if self.end_ms is not None else ""
        since = format_local(self.start_ms)
        return f"Cán bộ vận hành {self.author} đặt từ {since}{until}: {self.reason}"


def _row(o: StatusOverride, version: int) -> list[Any]:
    return [
        o.unit_code,
        o.override_id,
        o.status,
        o.reason,
        o.author,
        o.start_ms,
        o.end_ms,
        o.created_at_ms,
        o.cleared_at_ms,
        o.cleared_by,
        version,
    ]


def _write(sink: ClickHouseSink, overrides: list[StatusOverride]) -> None:
    version = time.time_ns()
    rows = [_row(o, version) for o in overrides]
    sink.insert_columns(
        "unit_status_overrides", OVERRIDE_COLUMNS, [list(c) for c in zip(*rows, strict=True)]
    )


def set_override(
    sink: ClickHouseSink,
    unit_code: str,
    status: str,
    reason: str,
    author: str,
    start_ms: int,
    end_ms: int | None,
    now_ms: int,
) -> StatusOverride:
    """Store a new override and return it (``HealthError`` for a bad status or period)."""
    if status not in STATUS_LABELS:
        raise HealthError(f"unknown status {status!r} (one of {', '.join(STATUS_LABELS)})")
    if not reason.strip() or not author.strip():
        raise HealthError("an override needs a reason and an author")
    if end_ms is not None and end_ms <= start_ms:
        raise HealthError("the override ends before it starts")
    override = StatusOverride(
        uuid.uuid4().hex[:12], unit_code, status, reason.strip(), author.strip(), start_ms,
        end_ms, now_ms,
    )  # fmt: skip
    _write(sink, [override])
    return override


def load_overrides(sink: ClickHouseSink, unit_code: str | None = None) -> list[StatusOverride]:
    """Every override (of one unit, or all), by unit and start."""
    where = "" if unit_code is None else "WHERE unit_code = {unit:String}"
    rows = sink.query_rows(
        "SELECT override_id, unit_code, status, reason, author, "
        "toUnixTimestamp64Milli(start_time), toUnixTimestamp64Milli(end_time), "
        "toUnixTimestamp64Milli(created_at), toUnixTimestamp64Milli(cleared_at), cleared_by "
        f"FROM {sink.database}.unit_status_overrides FINAL {where} "
        "ORDER BY unit_code, start_time, created_at",
        None if unit_code is None else {"unit": unit_code},
    )
    return [StatusOverride(*r) for r in rows]


def clear_overrides(
    sink: ClickHouseSink, unit_code: str, author: str, now_ms: int
) -> list[StatusOverride]:
    """End every override of the unit that is in force now or starts later; the ones ended."""
    ended = [
        replace(o, cleared_at_ms=max(now_ms, o.start_ms), cleared_by=author)
        for o in load_overrides(sink, unit_code)
        if o.cleared_at_ms is None and (o.end_ms is None or o.end_ms > now_ms)
    ]
    if ended:
        _write(sink, ended)
    return ended


def in_force(overrides: list[StatusOverride], at_ms: int) -> dict[str, StatusOverride]:
    """unit_code → the override deciding its status at ``at_ms`` (the latest started)."""
    out: dict[str, StatusOverride] = {}
    for o in sorted(overrides, key=lambda o: (o.start_ms, o.created_at_ms)):
        if o.in_force(at_ms):
            out[o.unit_code] = o
    return out


def apply_overrides(
    statuses: list[UnitStatus], overrides: dict[str, StatusOverride]
) -> list[UnitStatus]:
    """``statuses`` with each overridden unit's status replaced (the measured numbers kept)."""
    out: list[UnitStatus] = []
    for s in statuses:
        o = overrides.get(s.unit_code)
        if o is None:
            out.append(s)
            continue
        out.append(
            replace(
                s,
                status=o.status,
                reason_code="operator_override",
                status_label=STATUS_LABELS[o.status],
                reason=o.wording(),
            )
        )
    return out
