"""One tracking call (EMC's ``TrackingMCDT`` payload) → one lifecycle event of our contract.

The call's fields, as domain.md lists them and as TTHC systems in the field send them (every
value may come as text: a C# client seen in the wild posts ``"Status": "1"``, ``"SiteId": 12``
and ``User`` as a JSON *string* ``{"ID_local", "ID_QG", "TYPE", "LOCATION"}``):

==============  ===========================================================================
MaHoSo          dossier code (``CodeProfile`` is read when MaHoSo is absent) → ``dossier_id``
SiteId          the sending system → ``unit_code`` through config/sites.csv
CodeTTHC        procedure code (= the catalogue's ID MCDT) → ``procedure_code``
NameTTHC        procedure name → ``procedure_name``
Status          1 received, 2 processing, 3 result returned, 4 assigned (0 other)
FormsReception  1 online, 2 in person → ``channel``
FormsPayments   0 no fee, 1 online, 2 in person → ``fee_payment`` / ``paid_online``
Level           3 partly online, 4 fully online; 0, 1 and 2 are not online → ``procedure_level``
IsFromDVCQG     1 = submitted through the national portal → ``via_national_portal``
IsDVCBC         0 direct, 1 VNPost, 2 other postal → ``postal_return``, result channel
User            ``{ID_local, ID_QG, TYPE}``: TYPE 1 business, 2 citizen, 3 one-stop officer
==============  ===========================================================================

The original call carries no times; these optional fields (this project's extension, named in
the payload's style) make on-time indicators right: ``EventTime`` (when the step happened;
default: when the call arrived), ``DueDate`` (receipts; default: ``default_due_days`` after
receipt, see :class:`streams.settings.IngestSettings`), ``FinishedAt`` (results; default
EventTime), and for results ``ElectronicResult`` (default: received online), ``Digitised``
(default 0) and for steps ``StepName``. Times are epoch milliseconds or ISO-8601 text; text
without an offset is Vietnam local time (Asia/Ho_Chi_Minh).

Status → event (Status 4 "assigned" and 0 "other" have no stage of their own in our contract,
so they become processing steps; the portal statuses are domain.md's):

- 1 → ``received``;
- 2 → ``processed`` with portal status 4 (processing); 4 → ``processed`` with portal status 2
  (accepted: assignment comes before processing, so a later "processing" is no step backwards);
  0 → ``processed`` with portal status 4 and step name ``other`` unless StepName says;
- 3 → ``result_returned``.

A retried call must count once, so ``event_id`` is derived, not random: SHA-256 over the unit,
dossier, Status and the times *as sent* (absent times hash as empty — then a retry that arrives
later still gets the same id, and its arrival time never enters the id).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from streams.core.events import Event, EventType
from streams.core.localtime import to_epoch_ms
from streams.ingest.errors import TrackingCallError

DAY_MS = 86_400_000

STATUS_RECEIVED, STATUS_PROCESSING, STATUS_RESULT, STATUS_ASSIGNED, STATUS_OTHER = 1, 2, 3, 4, 0
PORTAL_STATUS_BY_STEP: dict[int, int] = {
    STATUS_PROCESSING: 4,
    STATUS_ASSIGNED: 2,
    STATUS_OTHER: 4,
}
"""Tracking Status of a processing step → the national portal status it is recorded as."""

CHANNEL_BY_FORMS_RECEPTION = {1: "online", 2: "in_person"}
FEE_BY_FORMS_PAYMENTS = {0: "none", 1: "online", 2: "in_person"}
LEVEL_BY_TRACKING_LEVEL = {0: 0, 1: 0, 2: 0, 3: 3, 4: 4}
SUBMITTER_BY_USER_TYPE = {1: "business", 2: "citizen", 3: "officer"}
POSTAL_BY_IS_DVCBC = {0: False, 1: True, 2: True}

MAX_TEXT = 512
"""Longest accepted text value (codes, names, ids), characters."""


@dataclass(frozen=True, slots=True)
class TrackedEvent:
    """A validated call: the lifecycle event to produce and its type (hence its topic)."""

    kind: EventType
    event: Event


def _bad(field: str, detail: str, code: str = "invalid_value") -> TrackingCallError:
    return TrackingCallError(422, code, field, detail)


def _missing(field: str) -> TrackingCallError:
    return TrackingCallError(422, "missing_field", field, f"{field} is required")


def _present(fields: Mapping[str, Any], name: str) -> bool:
    value = fields.get(name)
    return value is not None and not (isinstance(value, str) and not value.strip())


def _text(fields: Mapping[str, Any], name: str, required: bool = True) -> str | None:
    if not _present(fields, name):
        if required:
            raise _missing(name)
        return None
    value = fields[name]
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _bad(name, f"{name} must be text, got {type(value).__name__}")
    text = str(value).strip()
    if len(text) > MAX_TEXT:
        raise _bad(name, f"{name} is longer than {MAX_TEXT} characters")
    return text


def _code(fields: Mapping[str, Any], name: str, allowed: Mapping[int, Any]) -> int | None:
    """An enumerated integer field (``"1"`` or ``1``); ``None`` when absent."""
    if not _present(fields, name):
        return None
    value = fields[name]
    if isinstance(value, bool):
        value = int(value)
    try:
        number = int(str(value).strip())
    except ValueError:
        raise _bad(name, f"{name} must be one of {sorted(allowed)}, got {value!r}") from None
    if number not in allowed:
        raise _bad(name, f"{name} must be one of {sorted(allowed)}, got {number}")
    return number


def _required_code(fields: Mapping[str, Any], name: str, allowed: Mapping[int, Any]) -> int:
    number = _code(fields, name, allowed)
    if number is None:
        raise _missing(name)
    return number


def _flag(fields: Mapping[str, Any], name: str, default: bool) -> bool:
    number = _code(fields, name, {0: False, 1: True})
    return default if number is None else bool(number)


def _time(fields: Mapping[str, Any], name: str) -> int | None:
    """Epoch ms of a time field: an integer of epoch ms, or ISO-8601 (local time if naive)."""
    if not _present(fields, name):
        return None
    value = fields[name]
    if isinstance(value, bool):
        raise _bad(name, f"{name} must be epoch milliseconds or ISO-8601", "invalid_time")
    if isinstance(value, int | float):
        return int(value)
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        return to_epoch_ms(datetime.fromisoformat(text))
    except (ValueError, OverflowError):
        raise _bad(
            name, f"{name} must be epoch milliseconds or ISO-8601, got {text!r}", "invalid_time"
        ) from None


def _user(fields: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """``User`` as a mapping: an object, or a JSON object in a string (as sent in the field)."""
    if not _present(fields, "User"):
        return None
    value = fields["User"]
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise _bad("User", "User must be an object or a JSON object string") from None
    if not isinstance(value, Mapping):
        raise _bad("User", "User must be an object with ID_local, ID_QG and TYPE")
    return value


def derive_event_id(unit_code: str, dossier_id: str, status: int, times: tuple[str, ...]) -> str:
    """A stable id for a call: the same unit, dossier, Status and times give the same id.

    ``times`` are the call's time fields exactly as sent (``""`` when absent)."""
    material = "\x1f".join((unit_code, dossier_id, str(status), *times))
    return "tr-" + hashlib.sha256(material.encode("utf-8")).hexdigest()[:32]


def parse_call(
    fields: Mapping[str, Any],
    unit_of_site: Callable[[str], str | None],
    now_ms: int,
    default_due_days: float | None,
) -> TrackedEvent:
    """Validate one call and build its event; raises :class:`TrackingCallError` (422 with the
    field at fault) and produces nothing when the call cannot become a valid event.

    ``unit_of_site`` maps a SiteId to a unit_code (``None``: unknown site); ``now_ms`` is the
    arrival time (epoch ms), used when EventTime is absent; ``default_due_days`` as
    :attr:`streams.settings.IngestSettings.default_due_days`."""
    if not isinstance(fields, Mapping):
        raise TrackingCallError(400, "malformed_body", None, "a call must be a JSON object")
    site = _text(fields, "SiteId")
    assert site is not None
    unit_code = unit_of_site(site)
    if unit_code is None:
        raise _bad("SiteId", f"SiteId {site} is not configured (config/sites.csv)", "unknown_site")
    dossier_field = "MaHoSo" if _present(fields, "MaHoSo") else "CodeProfile"
    dossier_id = _text(fields, dossier_field, required=False)
    if not dossier_id:
        raise _missing("MaHoSo")
    status = _required_code(
        fields,
        "Status",
        {STATUS_OTHER: 0, STATUS_RECEIVED: 1, STATUS_PROCESSING: 2, STATUS_RESULT: 3, 4: 4},
    )
    event_time = _time(fields, "EventTime")
    due_at = _time(fields, "DueDate")
    finished_at = _time(fields, "FinishedAt")
    sent_times = tuple(str(fields.get(n) or "") for n in ("EventTime", "DueDate", "FinishedAt"))
    event_id = derive_event_id(unit_code, dossier_id, status, sent_times)
    at = now_ms if event_time is None else event_time
    common: Event = {
        "event_id": event_id,
        "unit_code": unit_code,
        "dossier_id": dossier_id,
        "event_time": at,
    }
    reception = _code(fields, "FormsReception", CHANNEL_BY_FORMS_RECEPTION)
    postal = _code(fields, "IsDVCBC", POSTAL_BY_IS_DVCBC)
    if status == STATUS_RECEIVED:
        return TrackedEvent(
            EventType.RECEIVED,
            {**common, **_receipt(fields, at, due_at, reception, postal, default_due_days)},
        )
    if status == STATUS_RESULT:
        payments = _code(fields, "FormsPayments", FEE_BY_FORMS_PAYMENTS)
        result_channel = "postal" if postal else "in_person" if reception == 2 else "online"
        return TrackedEvent(
            EventType.RESULT_RETURNED,
            {
                **common,
                "finished_at": at if finished_at is None else finished_at,
                "electronic_result": _flag(fields, "ElectronicResult", reception == 1),
                "result_channel": result_channel,
                "digitised": _flag(fields, "Digitised", False),
                "paid_online": payments == 1,
            },
        )
    step = _text(fields, "StepName", required=False)
    return TrackedEvent(
        EventType.PROCESSED,
        {
            **common,
            "status": PORTAL_STATUS_BY_STEP[status],
            "step_name": step or ("other" if status == STATUS_OTHER else None),
            "supplement_requested": False,
        },
    )


def _receipt(
    fields: Mapping[str, Any],
    at: int,
    due_at: int | None,
    reception: int | None,
    postal: int | None,
    default_due_days: float | None,
) -> Event:
    """The receipt-only fields of a Status 1 call."""
    procedure_code = _text(fields, "CodeTTHC")
    level = _required_code(fields, "Level", LEVEL_BY_TRACKING_LEVEL)
    if reception is None:
        raise _missing("FormsReception")
    payments = _required_code(fields, "FormsPayments", FEE_BY_FORMS_PAYMENTS)
    user = _user(fields)
    if user is None:
        raise _missing("User")
    user_type = _code(user, "TYPE", SUBMITTER_BY_USER_TYPE)
    if user_type is None:
        raise _missing("User.TYPE")
    if due_at is None:
        if default_due_days is None:
            raise _missing("DueDate")
        due_at = at + int(default_due_days * DAY_MS)
    if due_at < at:
        raise _bad("DueDate", "DueDate is before the receipt time")
    try:
        id_local = _text(user, "ID_local", required=False)
        id_qg = _text(user, "ID_QG", required=False)
    except TrackingCallError as exc:
        raise _bad(f"User.{exc.field}", exc.detail) from None
    return {
        "procedure_code": procedure_code,
        "procedure_level": LEVEL_BY_TRACKING_LEVEL[level],
        "channel": CHANNEL_BY_FORMS_RECEPTION[reception],
        "submitter_type": SUBMITTER_BY_USER_TYPE[user_type],
        "submitter_id_local": id_local,
        "submitter_id_qg": id_qg,
        "via_national_portal": _flag(fields, "IsFromDVCQG", False),
        "due_at": due_at,
        "fee_payment": FEE_BY_FORMS_PAYMENTS[payments],
        "postal_return": bool(postal),
        "procedure_name": _text(fields, "NameTTHC", required=False),
    }
