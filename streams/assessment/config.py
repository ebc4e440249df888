"""The scoring rules in force: ``config/scoring.toml`` (or ``EMC_ASSESSMENT__SCORING_FILE``)
with ``EMC_ASSESSMENT__OVERRIDES`` applied."""

from __future__ import annotations

import hashlib
import json
import tomllib

from streams.core.errors import ConfigError
from streams.core.scoring import Scoring, apply_overrides, scoring_from_dict
from streams.settings import Settings


def load_scoring(settings: Settings) -> Scoring:
    """The rules of the settings' scoring file, overridden value by value.

    When overrides apply, the version becomes ``{file version}+{8 hex digits}`` (a digest of the
    overrides), so a stored result always names the exact rules it was scored by."""
    path = settings.scoring_path
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the scoring rules ({exc})") from exc
    overrides = dict(settings.assessment.overrides)
    if overrides:
        raw = apply_overrides(raw, overrides)
        digest = hashlib.sha256(json.dumps(overrides, sort_keys=True).encode()).hexdigest()
        raw["version"] = f"{raw.get('version', 'unversioned')}+{digest[:8]}"
    return scoring_from_dict(raw)
