"""The root of the project's errors, and the core's own.

EmcError
├── ConfigError          bad settings or reference data (config/units.csv, …)
├── DecodeError          a message that cannot become an event (dead-lettered, with a reason)
├── BrokerError          (streams.kafka.errors) the broker could not be started or reached
├── HealthError          (streams.health.errors) health could not be evaluated or imported
└── WebError             (streams.web.errors) dashboard, API and token failures
"""

from __future__ import annotations


class EmcError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(EmcError):
    """Settings or reference data are invalid; the message says which file/field and why."""


class DecodeError(EmcError):
    """A message could not be decoded into a valid event.

    ``reason`` is a stable, machine-readable code (e.g. ``malformed_json``,
    ``missing_field``, ``unknown_enum_symbol``) used for dead-letter records and per-reason
    counters; ``detail`` is a human-readable explanation.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
