"""Errors of the web package (dashboard, API, tokens).

EmcError (streams.core.errors)
└── WebError
    └── TokenError       a token cannot be issued, revoked or read (bad role, unknown id, …)
"""

from __future__ import annotations

from streams.core.errors import EmcError


class WebError(EmcError):
    """Base of the errors raised by :mod:`streams.web`."""


class TokenError(WebError):
    """A token operation failed; the message says why (never contains a plaintext token)."""
