"""QĐ 766 scoring maths, computed by hand: points, bands at their edges, competition ranks."""

from __future__ import annotations

import pytest

from streams.core.errors import ConfigError
from streams.core.scoring import (
    Band,
    IndicatorRule,
    Scoring,
    apply_overrides,
    competition_ranks,
    indicator_points,
    level_of,
    score_units,
    scoring_from_dict,
)

BANDS = (Band("A", 90), Band("B", 80), Band("C", 65), Band("D", 50), Band("E", 0))


def test_points_are_capped_at_the_full_score_rate() -> None:
    rule = IndicatorRule("remote_rate", "online_service", 6, 0.5)
    assert indicator_points(0.25, rule) == 3.0
    assert indicator_points(0.5, rule) == 6.0
    assert indicator_points(0.9, rule) == 6.0
    assert indicator_points(None, rule) == 0.0


@pytest.mark.parametrize(
    ("score", "level"),
    [(100, "A"), (90.0, "A"), (89.99, "B"), (80, "B"), (79.99, "C"), (65, "C"), (64.99, "D"),
     (50, "D"), (49.99, "E"), (0, "E"), (None, None)],
)  # fmt: skip
def test_band_edges(score: float | None, level: str | None) -> None:
    assert level_of(score, BANDS) == level


def test_competition_ranks_share_and_skip() -> None:
    ranks = competition_ranks({"a": 90.0, "b": 95.0, "c": 90.0, "d": 70.0, "e": None})
    assert ranks == {"b": 1, "a": 2, "c": 2, "d": 4, "e": None}
    assert competition_ranks({"x": 5.0, "y": 5.0, "z": 1.0}) == {"x": 1, "y": 1, "z": 3}


def test_score_units_rescales_ranks_per_kind_and_skips_silent_units() -> None:
    rules = (
        IndicatorRule("online_rate", "g1", 30, 0.5),
        IndicatorRule("satisfaction_rate", "g2", 10, 1.0),
    )
    scoring = Scoring("t", rules, BANDS)
    rates = {
        "m1": {"online_rate": 0.5, "satisfaction_rate": 0.6},  # 30 + 6 = 36 of 40 → 90.00
        "m2": {"online_rate": 0.25, "satisfaction_rate": None},  # 15 + 0 of 40 → 37.50
        "p1": {"online_rate": 0.1, "satisfaction_rate": 1.0},  # 6 + 10 = 16 of 40 → 40.00
    }
    got = score_units(rates, {"m1": 3, "m2": 1, "p1": 9, "p2": 0},
                      {"m1": "ministry", "m2": "ministry", "p1": "province", "p2": "province"},
                      scoring)  # fmt: skip
    assert (got["m1"].total, got["m1"].score, got["m1"].level, got["m1"].rank) == (
        36.0,
        90.0,
        "A",
        1,
    )
    assert (got["m2"].score, got["m2"].level, got["m2"].rank) == (37.5, "E", 2)
    assert got["m1"].groups == {"g1": 30.0, "g2": 6.0}
    assert (got["p1"].score, got["p1"].rank) == (40.0, 1)
    assert (got["p2"].score, got["p2"].level, got["p2"].rank, got["p2"].points) == (
        None,
        None,
        None,
        {},
    )


def test_configuration_form_and_overrides() -> None:
    raw = {
        "version": "v1",
        "indicators": {
            "on_time_rate": {"group": "progress", "max_points": 20, "full_rate": 1.0},
            "remote_rate": {"group": "online", "max_points": 0, "full_rate": 0.5},
        },
        "bands": {"B": 80, "A": 90, "E": 0},
        "targets": {"remote_rate": 0.5},
    }
    s = scoring_from_dict(raw)
    assert [r.name for r in s.indicators] == ["on_time_rate"]  # max 0: not scored
    assert [b.level for b in s.bands] == ["A", "B", "E"]
    assert dict(s.targets) == {"remote_rate": 0.5}
    changed = scoring_from_dict(apply_overrides(raw, {"indicators.remote_rate.max_points": 6}))
    assert [r.name for r in changed.indicators] == ["on_time_rate", "remote_rate"]
    assert raw["indicators"]["remote_rate"]["max_points"] == 0  # type: ignore[index]
    with pytest.raises(ConfigError):
        scoring_from_dict({"version": "x", "indicators": {}, "bands": {}})
    with pytest.raises(ConfigError):
        scoring_from_dict(apply_overrides(raw, {"indicators.on_time_rate.full_rate": 0}))
