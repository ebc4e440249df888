"""The connection statuses of seed 001's appendix and the reasons given for them.

The rules themselves run in ClickHouse (:mod:`streams.health.sql`), in domain.md's order; the first
that matches is the unit's status. This module names the statuses (a stable code plus the exact
Vietnamese label of the letter) and turns the measured numbers into a readable reason.
"""

from __future__ import annotations

from dataclasses import dataclass

STATUS_LABELS: dict[str, str] = {
    "not_connected": "Chưa kết nối",
    "interrupted": "Đã kết nối nhưng bị gián đoạn",
    "needs_reconciliation": "Đã kết nối, cần đối soát số liệu",
    "not_comprehensive": "Đã kết nối nhưng chưa toàn diện do các hệ thống còn bị phân tán",
    "fully_connected": "Đã kết nối toàn diện",
}
"""Status code → label, in rule order (the first matching rule wins)."""
STATUSES: tuple[str, ...] = tuple(STATUS_LABELS)

REASON_CODES: tuple[str, ...] = (
    "never_sent",
    "silent_working_hours",
    "volume_drop",
    "unknown_procedures",
    "impossible_lifecycles",
    "no_results",
    "low_catalogue_coverage",
    "ok",
)
"""Which rule decided, in rule order (``ok``: none did, fully connected)."""


@dataclass(frozen=True, slots=True)
class UnitStatus:
    """The outcome of the rules for one unit as of an instant, with the numbers they used.

    Times are epoch ms (UTC); ``silent_ms`` is office-hours milliseconds since the last event;
    event counts are distinct events; the reconciliation counts cover the trailing
    ``health.reconciliation_days`` days.
    """

    unit_code: str
    status: str
    reason_code: str
    last_event_at_ms: int | None
    silent_ms: int
    today_events: int
    usual_events: float
    receipts: int
    unknown_receipts: int
    dossiers: int
    anomalous_dossiers: int
    results: int
    catalogue_size: int
    online_procedures: int
    covered_procedures: int

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def reason(self) -> str:
        """The deciding rule and its numbers, in Vietnamese (the report's language)."""
        return describe(self)


def _pct(part: int | float, whole: int | float) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "-"


def describe(s: UnitStatus) -> str:
    """A one-line Vietnamese reason for ``s.reason_code`` with the measured numbers."""
    hours = s.silent_ms / 3_600_000
    if s.reason_code == "never_sent":
        return "Chưa nhận được sự kiện nào từ hệ thống"
    if s.reason_code == "silent_working_hours":
        return f"Không có sự kiện trong {hours:.1f} giờ làm việc"
    if s.reason_code == "volume_drop":
        return (
            f"Số sự kiện hôm nay {s.today_events} so với mức thường lệ {s.usual_events:g} "
            f"({_pct(s.today_events, s.usual_events)})"
        )
    if s.reason_code == "unknown_procedures":
        return (
            f"{s.unknown_receipts}/{s.receipts} hồ sơ ({_pct(s.unknown_receipts, s.receipts)}) "
            "có mã TTHC không có trong danh mục"
        )
    if s.reason_code == "impossible_lifecycles":
        return (
            f"{s.anomalous_dossiers}/{s.dossiers} hồ sơ "
            f"({_pct(s.anomalous_dossiers, s.dossiers)}) có vòng đời bất thường"
        )
    if s.reason_code == "no_results":
        return f"Có {s.receipts} hồ sơ tiếp nhận nhưng không có sự kiện trả kết quả"
    if s.reason_code == "low_catalogue_coverage":
        return (
            f"{s.covered_procedures}/{s.online_procedures} DVCTT trong danh mục "
            f"({_pct(s.covered_procedures, s.online_procedures)}) có hồ sơ"
        )
    return "Đủ các luồng dữ liệu, số liệu khớp danh mục"
