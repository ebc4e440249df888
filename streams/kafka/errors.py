"""Errors of the Kafka side (broker, topics, producer, state store).

EmcError (streams.core.errors)
└── BrokerError          the Kafka-protocol broker could not be started or answer
"""

from __future__ import annotations

from streams.core.errors import EmcError


class BrokerError(EmcError):
    """The embedded Kafka-protocol broker failed to start or answer."""
