"""Errors raised by sinks.

SinkError               a write or query the store refused or could not take
└── SinkUnavailableError  the store could not be reached (worth retrying)
"""

from __future__ import annotations


class SinkError(Exception):
    """ClickHouse refused a statement; the message carries ClickHouse's own words."""


class SinkUnavailableError(SinkError):
    """ClickHouse could not be reached or timed out; retry with back-off."""
