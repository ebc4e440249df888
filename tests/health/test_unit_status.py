"""The one status type: evaluated statuses derive label and reason, read-back ones keep theirs."""

from __future__ import annotations

from dataclasses import asdict

from streams.health.statuses import STATUS_LABELS, UnitStatus, describe

MEASURED = {
    "silent_ms": 7_200_000,
    "today_events": 4,
    "usual_events": 40.0,
    "receipts": 58,
    "unknown_receipts": 11,
    "dossiers": 30,
    "anomalous_dossiers": 1,
    "results": 0,
    "catalogue_size": 4,
    "online_procedures": 4,
    "covered_procedures": 1,
}


def test_an_evaluated_status_derives_its_label_and_reason() -> None:
    s = UnitStatus("BAC_NINH", "interrupted", "volume_drop", 1_700_000_000_000, **MEASURED)
    assert s.measured
    assert s.status_label == STATUS_LABELS["interrupted"]
    assert s.reason == describe(s) == "Số sự kiện hôm nay 4 so với mức thường lệ 40 (10.0%)"
    assert s.since_ms is None
    # POST /emc/health/evaluate serves asdict() with label and reason after the numbers.
    assert list(asdict(s))[-3:] == ["status_label", "reason", "since_ms"]


def test_a_status_read_back_keeps_the_recorded_texts_and_has_no_numbers() -> None:
    s = UnitStatus(
        "HA_NOI",
        "interrupted",
        "silent_working_hours",
        1_700_000_000_000,
        status_label="nhãn đã ghi",
        reason="lý do đã ghi",
        since_ms=1_699_000_000_000,
    )
    assert not s.measured and s.silent_ms is None
    assert (s.status_label, s.reason, s.since_ms) == (
        "nhãn đã ghi",
        "lý do đã ghi",
        1_699_000_000_000,
    )


def test_a_read_back_status_without_texts_gets_the_label_but_no_invented_reason() -> None:
    s = UnitStatus("HA_NOI", "fully_connected", "ok", None)
    assert s.status_label == STATUS_LABELS["fully_connected"]
    assert s.reason == ""  # not "all flows present": nothing was measured
    assert UnitStatus("HA_NOI", "no_such_status", "", None).status_label == ""
