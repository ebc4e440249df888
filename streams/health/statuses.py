"""The connection statuses of seed 001's appendix and the reasons given for them.

The rules themselves run in ClickHouse (:mod:`streams.health.sql`), in docs/domain.md's order;
the first that matches is the unit's status. This module names the statuses (a stable code plus
the exact Vietnamese label of the letter) and turns the measured numbers into a readable reason.
"""

from __future__ import annotations

from dataclasses import dataclass

STATUS_LABELS: dict[str, str] = {
    "not_connected": "Chưa kết nối",
    "interrupted": "Đã kết nối nhưng bị gián đoạn",
    "needs_reconciliation": "Đã kết nối, cần đối soát số liệu",
    "not_comprehensive": "Đã kết nối nhưng chưa toàn diện do các hệ thống còn bị phân tán",
    "fully_connected": "Đã kết nối toàn diện",
    "coordinating": "Đã kết nối, đang phối hợp xử lý",
}
"""Status code → label: the five rule outcomes in rule order (the first matching rule wins),
then ``coordinating``, which no rule produces: an operator sets it (or any other status) as an
override while a case is being handled. The wordings are seed 001's appendix, character for
character (the appendix prints BHXH's as "Đã kết nối, đang phối hợp xử lý"); "Chưa kết nối" is
not in the appendix and is kept for units that never sent."""
STATUSES: tuple[str, ...] = tuple(STATUS_LABELS)
RULE_STATUSES: tuple[str, ...] = STATUSES[:5]
"""The statuses the rules can produce, in rule order."""

REASON_CODES: tuple[str, ...] = (
    "never_sent",
    "silent_working_hours",
    "volume_drop",
    "unknown_procedures",
    "impossible_lifecycles",
    "no_results",
    "low_catalogue_coverage",
    "ok",
    "reported_totals_differ",
    "operator_override",
)
"""Which rule decided (``ok``: none did, fully connected; ``reported_totals_differ``: rule 3's
third test, the unit's reported totals off EMC's counts beyond the tolerance, evaluated after
the rules' SQL by :mod:`streams.health.totals`; ``operator_override``: an operator-set status)."""


@dataclass(frozen=True, slots=True)
class UnitStatus:
    """A unit's connection status as of an instant: the outcome of the rules and their numbers.

    The one status type of the project, built in two places. The rules
    (:func:`streams.health.sql.evaluate`) fill in every measured number; the label and the
    reason follow from them. A status read back from ``unit_connection_status`` (the open period
    of ``unit_status_history``, what the dashboard and the API show) carries the label and reason
    recorded when the period opened and the period's start ``since_ms``, but no numbers (``None``):
    the history does not keep them.

    Times are epoch ms (UTC); ``silent_ms`` is office-hours milliseconds since the last event;
    event counts are distinct events; the reconciliation counts cover the trailing
    ``health.reconciliation_days`` days.
    """

    unit_code: str
    status: str
    reason_code: str
    last_event_at_ms: int | None
    silent_ms: int | None = None
    today_events: int | None = None
    usual_events: float | None = None
    receipts: int | None = None
    unknown_receipts: int | None = None
    dossiers: int | None = None
    anomalous_dossiers: int | None = None
    results: int | None = None
    catalogue_size: int | None = None
    online_procedures: int | None = None
    covered_procedures: int | None = None
    reported_mismatches: int | None = None
    """Measures of the unit's latest reported totals off EMC's counts beyond the tolerance
    (``None``: no report in the lookback)."""
    reported_worst: str | None = None
    """The largest difference, worded (``"Tiếp nhận 2026-11: báo cáo 120, EMC 100 (-20,
    -16.7%)"``)."""
    status_label: str = ""
    """The status in the letter's Vietnamese wording (default: :data:`STATUS_LABELS`)."""
    reason: str = ""
    """The deciding rule and its numbers, in Vietnamese (the report's language); default:
    :func:`describe` of the measured numbers."""
    since_ms: int | None = None
    """Start of the status period (epoch ms) for a status read back from the history; ``None``
    for a fresh evaluation, whose period opens only when it is recorded."""

    def __post_init__(self) -> None:
        # Frozen, so the defaults are filled through object.__setattr__. A status read back from
        # the history keeps the wording recorded then, which may predate today's texts.
        if not self.status_label:
            object.__setattr__(self, "status_label", STATUS_LABELS.get(self.status, ""))
        if not self.reason and self.measured:
            object.__setattr__(self, "reason", describe(self))

    @property
    def measured(self) -> bool:
        """Whether the rules' numbers are here (an evaluation, not a status read back)."""
        return self.silent_ms is not None


def _n(value: int | float | None) -> int | float:
    """A measured number; one not measured reads as 0."""
    return 0 if value is None else value


def _pct(part: int | float | None, whole: int | float | None) -> str:
    return f"{100.0 * _n(part) / _n(whole):.1f}%" if whole else "-"


def describe(s: UnitStatus) -> str:
    """A one-line Vietnamese reason for ``s.reason_code`` with the measured numbers."""
    hours = _n(s.silent_ms) / 3_600_000
    if s.reason_code == "never_sent":
        return "Chưa nhận được sự kiện nào từ hệ thống"
    if s.reason_code == "silent_working_hours":
        return f"Không có sự kiện trong {hours:.1f} giờ làm việc"
    if s.reason_code == "volume_drop":
        return (
            f"Số sự kiện hôm nay {s.today_events} so với mức thường lệ {_n(s.usual_events):g} "
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
    if s.reason_code == "reported_totals_differ":
        return (
            f"{s.reported_mismatches} chỉ tiêu đơn vị báo cáo lệch số liệu EMC quá ngưỡng; "
            f"lệch nhiều nhất: {s.reported_worst or '-'}"
        )
    if s.reason_code == "no_results":
        return f"Có {s.receipts} hồ sơ tiếp nhận nhưng không có sự kiện trả kết quả"
    if s.reason_code == "low_catalogue_coverage":
        return (
            f"{s.covered_procedures}/{s.online_procedures} DVCTT trong danh mục "
            f"({_pct(s.covered_procedures, s.online_procedures)}) có hồ sơ"
        )
    return "Đủ các luồng dữ liệu, số liệu khớp danh mục"
