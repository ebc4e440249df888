"""A tracking call's fields → one lifecycle event (pure: no broker, no HTTP)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streams.core.events import EventType, schema_field_names
from streams.ingest.errors import TrackingCallError
from streams.ingest.tracking import DAY_MS, parse_call

SITES = {"1076": "HA_NOI"}
NOW = 1_705_541_400_000  # 2024-01-18 08:30 local


def call(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "MaHoSo": "000.00.23.H26-240118-0001",
        "SiteId": 1076,
        "CodeTTHC": "1.004946",
        "NameTTHC": "Cấp giấy phép",
        "Status": "1",
        "FormsReception": "1",
        "FormsPayments": "1",
        "Level": "4",
        "IsFromDVCQG": "1",
        "IsDVCBC": "0",
        # as field clients send it: a JSON string
        "User": json.dumps({"ID_local": "u1", "ID_QG": "q1", "TYPE": "2", "LOCATION": "x"}),
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def parse(fields: dict[str, Any], due_days: float | None = 15.0):
    return parse_call(fields, SITES.get, NOW, due_days)


def test_receipt_maps_every_field() -> None:
    tracked = parse(call(EventTime="2024-01-18T08:00:00"))
    assert tracked.kind is EventType.RECEIVED
    event = tracked.event
    assert set(event) == set(schema_field_names(EventType.RECEIVED))
    at = NOW - 30 * 60_000  # naive text is Vietnam local time
    assert event == {
        "event_id": event["event_id"],
        "unit_code": "HA_NOI",
        "dossier_id": "000.00.23.H26-240118-0001",
        "event_time": at,
        "procedure_code": "1.004946",
        "procedure_level": 4,
        "channel": "online",
        "submitter_type": "citizen",
        "submitter_id_local": "u1",
        "submitter_id_qg": "q1",
        "via_national_portal": True,
        "due_at": at + 15 * DAY_MS,
        "fee_payment": "online",
        "postal_return": False,
        "procedure_name": "Cấp giấy phép",
    }


def test_statuses_choose_the_event_type() -> None:
    assert parse(call(Status=2)).event["status"] == 4
    assert parse(call(Status=4)).event["status"] == 2
    assert parse(call(Status=0)).event["step_name"] == "other"
    result = parse(call(Status=3, IsDVCBC=1, FinishedAt=NOW - 5))
    assert result.kind is EventType.RESULT_RETURNED
    assert set(result.event) == set(schema_field_names(EventType.RESULT_RETURNED))
    assert result.event["result_channel"] == "postal"
    assert result.event["finished_at"] == NOW - 5
    assert result.event["event_time"] == NOW
    assert result.event["paid_online"] is True


def test_event_id_is_stable_for_a_retry_and_differs_otherwise() -> None:
    first = parse_call(call(), SITES.get, NOW, 15.0).event["event_id"]
    retry = parse_call(call(), SITES.get, NOW + 60_000, 15.0).event["event_id"]
    assert first == retry
    assert parse(call(Status=2)).event["event_id"] != first
    assert parse(call(MaHoSo="other")).event["event_id"] != first
    assert parse(call(EventTime=NOW)).event["event_id"] != first


def test_code_profile_is_read_when_ma_ho_so_is_absent() -> None:
    assert parse(call(MaHoSo=None, CodeProfile="CP-1")).event["dossier_id"] == "CP-1"


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"SiteId": None}, "missing_field", "SiteId"),
        ({"SiteId": 9}, "unknown_site", "SiteId"),
        ({"MaHoSo": None}, "missing_field", "MaHoSo"),
        ({"Status": None}, "missing_field", "Status"),
        ({"Status": "7"}, "invalid_value", "Status"),
        ({"Status": "x"}, "invalid_value", "Status"),
        ({"CodeTTHC": None}, "missing_field", "CodeTTHC"),
        ({"Level": "5"}, "invalid_value", "Level"),
        ({"FormsReception": "3"}, "invalid_value", "FormsReception"),
        ({"FormsPayments": None}, "missing_field", "FormsPayments"),
        ({"IsFromDVCQG": "2"}, "invalid_value", "IsFromDVCQG"),
        ({"IsDVCBC": "9"}, "invalid_value", "IsDVCBC"),
        ({"User": "{not json"}, "invalid_value", "User"),
        ({"User": {"ID_local": "u"}}, "missing_field", "User.TYPE"),
        ({"User": {"TYPE": 4}}, "invalid_value", "TYPE"),
        ({"EventTime": "yesterday"}, "invalid_time", "EventTime"),
        ({"DueDate": NOW - 10 * DAY_MS, "EventTime": NOW}, "invalid_value", "DueDate"),
        ({"NameTTHC": "x" * 600}, "invalid_value", "NameTTHC"),
    ],
)
def test_bad_calls_name_the_field(overrides: dict[str, Any], code: str, field: str) -> None:
    fields = call(**{k: v for k, v in overrides.items() if v is not None})
    for k, v in overrides.items():
        if v is None:
            fields.pop(k, None)
    with pytest.raises(TrackingCallError) as caught:
        parse(fields)
    assert (caught.value.status, caught.value.code, caught.value.field) == (422, code, field)


def test_due_date_is_required_without_a_default() -> None:
    with pytest.raises(TrackingCallError) as caught:
        parse(call(), due_days=None)
    assert caught.value.field == "DueDate"
    assert parse(call(DueDate=NOW + DAY_MS), due_days=None).event["due_at"] == NOW + DAY_MS
