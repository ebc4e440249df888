"""The shipped scoring file loads, and EMC_ASSESSMENT__ settings reach it."""

from __future__ import annotations

import pytest

from streams.assessment import load_scoring
from streams.settings import Settings


def test_shipped_defaults_follow_qd766_group_sums() -> None:
    s = load_scoring(Settings())
    groups: dict[str, float] = {}
    for rule in s.indicators:
        groups[rule.group] = groups.get(rule.group, 0) + rule.max_points
    assert groups == {"progress": 20, "digitisation": 22, "online_service": 12,
                      "online_payment": 10, "satisfaction": 18}  # fmt: skip
    assert [(b.level, b.min_score) for b in s.bands] == [
        ("A", 90), ("B", 80), ("C", 65), ("D", 50), ("E", 0)
    ]  # fmt: skip
    assert dict(s.targets)["remote_rate"] == 0.5


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMC_ASSESSMENT__OVERRIDES", '{"indicators.on_time_rate.max_points": 25}')
    s = load_scoring(Settings())
    assert next(r for r in s.indicators if r.name == "on_time_rate").max_points == 25
    assert s.version.startswith("qd766-default-1+")
