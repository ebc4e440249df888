"""Creating the project's topics (lifecycle, dead-letter, late) with confluent-kafka's admin."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from streams.core.events import (
    DEAD_LETTER_TOPIC,
    LATE_TOPIC,
    LIFECYCLE_TOPICS,
    REPORTED_TOTALS_TOPIC,
)
from streams.kafka.errors import BrokerError

ALL_TOPICS: tuple[str, ...] = (
    *LIFECYCLE_TOPICS,
    DEAD_LETTER_TOPIC,
    LATE_TOPIC,
    REPORTED_TOTALS_TOPIC,
)
CHANGELOG_CONFIG: dict[str, str] = {"cleanup.policy": "compact"}
"""Topic configs of the state changelog: compacted (the newest value per key is the state)."""


def ensure_topics(
    bootstrap_servers: str | Mapping[str, Any],
    partitions: int,
    replication_factor: int = 1,
    topics: tuple[str, ...] = ALL_TOPICS,
    timeout_s: float = 15.0,
    configs: dict[str, dict[str, str]] | None = None,
) -> list[str]:
    """Create any of ``topics`` that do not exist yet; return the ones created.

    Every lifecycle topic must have the same partition count: a unit's events on all four
    topics then share a partition number, and so does its state. ``bootstrap_servers`` is a
    ``host:port`` list, or a whole librdkafka client configuration (with SASL/TLS settings).
    """
    config = client_config(bootstrap_servers)
    admin = AdminClient(config)
    bootstrap_servers = config["bootstrap.servers"]
    try:
        existing = set(admin.list_topics(timeout=timeout_s).topics)
    except KafkaException as exc:
        raise BrokerError(f"cannot list topics on {bootstrap_servers}: {exc}") from exc
    wanted = [t for t in topics if t not in existing]
    if not wanted:
        return []
    futures = admin.create_topics(
        [
            NewTopic(
                t,
                num_partitions=partitions,
                replication_factor=replication_factor,
                config=(configs or {}).get(t, {}),
            )
            for t in wanted
        ],
        request_timeout=timeout_s,
    )
    created = []
    for topic, future in futures.items():
        try:
            future.result(timeout_s)
            created.append(topic)
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            if isinstance(err, KafkaError) and err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            raise BrokerError(f"cannot create topic {topic}: {exc}") from exc
    return created


def client_config(bootstrap: str | Mapping[str, Any]) -> dict[str, Any]:
    """A librdkafka configuration from a ``host:port`` list or an existing configuration."""
    if isinstance(bootstrap, str):
        return {"bootstrap.servers": bootstrap}
    return dict(bootstrap)
