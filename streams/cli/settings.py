"""The one settings loader of the ``emc`` commands: EMC_* variables → :class:`Settings`."""

from __future__ import annotations

from typing import Any

import click

from streams.settings import Settings


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with ``overrides`` applied; a bad variable stops the
    command with pydantic's words about which one and why."""
    try:
        base = Settings()
    except Exception as exc:  # pydantic's ValidationError: say which variable is wrong
        raise click.ClickException(f"invalid EMC_* settings: {exc}") from exc
    return base.model_copy(update=overrides) if overrides else base
