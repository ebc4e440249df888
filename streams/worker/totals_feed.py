"""The worker's consumer of ``emc.unit.reported-totals.v1``: units' own totals per period.

Outside the dossier pipeline on purpose: reports are a few per unit and month, carry no
lifecycle, and must not share the lifecycle topics' partitioning or state. A thread of its own
polls the topic in consumer group ``{group_id}-reported-totals``, decodes each value
(:mod:`streams.kafka.totals_codec`), validates it (:func:`streams.health.totals.validate_report`),
stores the good ones and re-evaluates the statuses (:meth:`HealthMonitor.record_totals`), writes
a row to ``emc.dead_letters`` for each bad one (reason code, detail, the original's prefix), and
only then commits the batch's offsets: a crash re-reads the batch, and a re-read report is the
same report again (the latest by arrival still wins).
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message

from sinks.errors import SinkError
from streams.core.errors import DecodeError
from streams.core.registry import UnitRegistry
from streams.core.rows import DEAD_LETTER_LAYOUT
from streams.health.monitor import HealthMonitor
from streams.health.totals import REPORTED_TOTALS_TOPIC, ReportedTotals, validate_report
from streams.kafka.totals_codec import decode_totals
from streams.settings import Settings

log = logging.getLogger("emc.totals")

PREFIX_BYTES = 256
"""Bytes of a rejected value kept (base64) in ``emc.dead_letters``."""


class TotalsFeed:
    """Polls the reported-totals topic and hands reports to a :class:`HealthMonitor`."""

    def __init__(self, settings: Settings, monitor: HealthMonitor, registry: UnitRegistry) -> None:
        self.monitor = monitor
        self.registry = registry
        # the configured session timeout, as the worker's own consumer (streams/worker/app.py):
        # librdkafka's default (45 s) makes a tansu group join take over 20 s
        session_ms = int(settings.kafka.session_timeout_s * 1000)
        self.consumer = Consumer(
            {
                **settings.kafka.client_config(),
                "group.id": f"{settings.kafka.group_id}-reported-totals",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "session.timeout.ms": session_ms,
                "heartbeat.interval.ms": max(500, session_ms // 10),
            }
        )
        self.consumer.subscribe([REPORTED_TOTALS_TOPIC])
        self.accepted = 0
        self.rejected = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self, timeout_s: float = 1.0, max_messages: int = 500) -> int:
        """Consume one batch (up to ``max_messages``, waiting up to ``timeout_s``), store it and
        commit; the number of messages handled."""
        messages = [m for m in self.consumer.consume(max_messages, timeout_s) if not _is_eof(m)]
        errors = [m for m in messages if m.error() is not None]
        for m in errors:
            log.warning("reported totals: consumer error %s", m.error())
        messages = [m for m in messages if m.error() is None]
        if not messages:
            return 0
        now = int(time.time() * 1000)
        reports: list[ReportedTotals] = []
        refs: list[str] = []
        dead: list[tuple[Any, ...]] = []
        for m in messages:
            value = m.value()
            try:
                fields = decode_totals(value)
                key = (m.key() or b"").decode("utf-8", "replace")
                if key and key != fields.get("unit_code"):
                    raise DecodeError(
                        "key_mismatch", f"key {key!r} is not unit_code {fields.get('unit_code')!r}"
                    )
                report, problems = validate_report(fields, self.registry, now)
                if report is None:
                    raise DecodeError(
                        "invalid_report", "; ".join(f"{f}: {why}" for f, why in problems)
                    )
            except DecodeError as exc:
                dead.append(_dead_letter(m, exc, now, self.registry))
                continue
            reports.append(report)
            refs.append(f"{m.topic()}/{m.partition()}/{m.offset()}")
        if dead:
            columns = [list(c) for c in zip(*dead, strict=True)]
            self.monitor.sink.insert_columns("dead_letters", DEAD_LETTER_LAYOUT, columns)
        if reports:
            self.monitor.record_totals(reports, "topic", f"{refs[0]}..{refs[-1]}")
        self.consumer.commit(asynchronous=False)
        self.accepted += len(reports)
        self.rejected += len(dead)
        return len(messages)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="reported-totals", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except (SinkError, Exception) as exc:  # keep consuming; the batch is re-read
                log.error("reported totals: batch not stored (%s); retrying", exc)
                time.sleep(2.0)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.consumer.close()


def _is_eof(m: Message) -> bool:
    error = m.error()
    return error is not None and error.code() == KafkaError._PARTITION_EOF


def _dead_letter(
    m: Message, exc: DecodeError, now_ms: int, registry: UnitRegistry
) -> tuple[Any, ...]:
    value = m.value() or b""
    raw_key = m.key()
    key = None if raw_key is None else raw_key.decode("utf-8", "replace")
    timestamp = m.timestamp()[1]
    return (
        m.topic(),
        m.partition(),
        m.offset(),
        "dead_letter",
        exc.reason,
        exc.detail[:300],
        key if key is not None and key in registry else None,
        key,
        timestamp if timestamp and timestamp > 0 else None,
        len(value),
        base64.b64encode(value[:PREFIX_BYTES]).decode("ascii"),
        now_ms,
    )
