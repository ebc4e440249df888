"""The event contract shared by producers, decoders and agents.

Every lifecycle topic carries one event type. A decoded event is a plain ``dict`` whose keys
are exactly the Avro schema's field names (``schemas/avro/<event type>.avsc``); times are
``int`` epoch milliseconds (UTC instants), enum values are the lower-case symbol strings,
optional fields are present with ``None``.
"""

from __future__ import annotations

import json
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

Event = dict[str, Any]
"""A decoded event: schema field name → value (times in epoch ms)."""


class EventType(StrEnum):
    """The four dossier lifecycle stages, one Kafka topic each."""

    RECEIVED = "received"
    PROCESSED = "processed"
    RESULT_RETURNED = "result_returned"
    FEEDBACK = "feedback"


TOPIC_BY_TYPE: dict[EventType, str] = {
    EventType.RECEIVED: "emc.dossier.received.v1",
    EventType.PROCESSED: "emc.dossier.processed.v1",
    EventType.RESULT_RETURNED: "emc.dossier.result-returned.v1",
    EventType.FEEDBACK: "emc.dossier.feedback.v1",
}
TYPE_BY_TOPIC: dict[str, EventType] = {topic: kind for kind, topic in TOPIC_BY_TYPE.items()}
LIFECYCLE_TOPICS: tuple[str, ...] = tuple(TOPIC_BY_TYPE.values())
DEAD_LETTER_TOPIC = "emc.dossier.dead-letter.v1"
LATE_TOPIC = "emc.dossier.late.v1"
REPORTED_TOTALS_TOPIC = "emc.unit.reported-totals.v1"
"""Units' own totals per period (streams.health.totals), consumed outside the dossier pipeline."""

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas" / "avro"
"""Where the ``.avsc`` files live (one per event type, named ``<event type>.avsc``)."""


def schema_path(kind: EventType) -> Path:
    """Path of the Avro schema file for ``kind``."""
    return SCHEMA_DIR / f"{kind.value}.avsc"


# Enum symbol sets, mirrored from the Avro schemas (a test checks they agree).
CHANNELS = ("online", "in_person", "postal")
SUBMITTER_TYPES = ("business", "citizen", "officer")
FEE_PAYMENTS = ("none", "online", "in_person")
RATINGS = ("very_satisfied", "satisfied", "neutral", "dissatisfied")
PROCEDURE_LEVELS = (0, 2, 3, 4)
"""0 not online, 2 legacy (information only; Decree 42/2022 knows only "toàn trình" and "một
phần": counted as not online), 3 partly online, 4 fully online ("toàn trình")."""
PORTAL_STATUSES = tuple(range(1, 11))
"""National portal sync statuses: 1 new-registered … 9 processed, 10 result returned."""


@cache
def schema_field_names(kind: EventType) -> tuple[str, ...]:
    """Top-level field names of ``kind``'s Avro schema, in schema order (read once)."""
    schema = json.loads(schema_path(EventType(kind)).read_text())
    return tuple(f["name"] for f in schema["fields"])
