"""QĐ 766 scoring: points per indicator, group subtotals, a total on 0–100, levels A–E by band
and competition ranks (1, 1, 3) within ministries and within provinces.

Pure maths over rates (fractions in [0, 1]); the SQL that measures the rates is in
streams/assessment/. The rules (which indicators, their groups, max points and full-score
rates, the bands) are data: :func:`scoring_from_dict` reads the ``config/scoring.toml`` form.

- points = max_points × min(1, rate / full_rate); an indicator whose rate is undefined (nothing
  to divide by, e.g. no fee dossiers) scores 0 points (**proposed**: the seeds are silent).
- total = Σ points; score = total × 100 / Σ max_points of the scored indicators when
  ``scale_to_100`` (QĐ 766's publicity group needs data EMC does not receive, so the points
  EMC can give sum to less than 100), else the total itself. Scores are rounded to
  ``decimals`` places before banding and ranking, so 89.99 is B and 90.00 is A whatever the
  float arithmetic left behind.
- A unit with no receipts in the period has no rates, no score, no level and no rank.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from streams.core.errors import ConfigError


@dataclass(frozen=True, slots=True)
class IndicatorRule:
    """One scored indicator: its QĐ 766 group, max points and the rate that earns them all."""

    name: str
    group: str
    max_points: float
    full_rate: float
    """Fraction in (0, 1]: at or above it the indicator earns ``max_points``."""


@dataclass(frozen=True, slots=True)
class Band:
    """A level and the lowest score (inclusive, 0–100) that reaches it."""

    level: str
    min_score: float


@dataclass(frozen=True, slots=True)
class Scoring:
    """The scoring rules in force, named by ``version`` (stored beside every result)."""

    version: str
    indicators: tuple[IndicatorRule, ...]
    bands: tuple[Band, ...]
    """Highest first."""
    scale_to_100: bool = True
    decimals: int = 2
    targets: tuple[tuple[str, float], ...] = ()
    """(target name, threshold fraction): ``remote_rate`` for every unit, the provinces'
    catalogue shares ``province_online_procedures`` / ``province_fully_online_procedures``."""

    @property
    def max_total(self) -> float:
        """Σ max points of the scored indicators."""
        return sum(rule.max_points for rule in self.indicators)

    @property
    def groups(self) -> tuple[str, ...]:
        """Groups in the order their first indicator is listed."""
        return tuple(dict.fromkeys(rule.group for rule in self.indicators))


@dataclass(slots=True)
class UnitScore:
    """One unit's result for a period (``score`` 0–100; ``None`` throughout when unscored)."""

    unit_code: str
    kind: str
    points: dict[str, float] = field(default_factory=dict)
    groups: dict[str, float] = field(default_factory=dict)
    total: float | None = None
    score: float | None = None
    level: str | None = None
    rank: int | None = None


def indicator_points(rate: float | None, rule: IndicatorRule) -> float:
    """Points of one indicator: ``max_points × min(1, rate / full_rate)``; 0 without a rate."""
    if rate is None:
        return 0.0
    return rule.max_points * min(1.0, max(0.0, rate) / rule.full_rate)


def level_of(score: float | None, bands: tuple[Band, ...]) -> str | None:
    """The first band (highest first) whose ``min_score`` the score reaches; ``None`` unscored."""
    if score is None:
        return None
    for band in bands:
        if score >= band.min_score:
            return band.level
    return bands[-1].level if bands else None


def competition_ranks(scores: Mapping[str, float | None]) -> dict[str, int | None]:
    """Standard competition ranks, highest score first: equal scores share a rank and the next
    rank skips (1, 1, 3). Units without a score get ``None``."""
    ordered = sorted((s, u) for u, s in scores.items() if s is not None)
    ordered.reverse()
    ranks: dict[str, int | None] = dict.fromkeys(scores)
    previous: float | None = None
    rank = 0
    for position, (score, unit) in enumerate(ordered, start=1):
        if score != previous:
            rank, previous = position, score
        ranks[unit] = rank
    return ranks


def score_units(
    rates: Mapping[str, Mapping[str, float | None]],
    received: Mapping[str, int],
    kinds: Mapping[str, str],
    scoring: Scoring,
) -> dict[str, UnitScore]:
    """Every unit's points, groups, total, score, level and rank within its kind.

    ``rates``: unit → indicator name → rate (fraction) or ``None``; ``received``: unit →
    receipts in the period (0 = unscored); ``kinds``: unit → ``ministry`` / ``province``.
    """
    out: dict[str, UnitScore] = {}
    for unit, kind in kinds.items():
        result = UnitScore(unit, kind)
        out[unit] = result
        if received.get(unit, 0) <= 0:
            continue
        unit_rates = rates.get(unit, {})
        groups = dict.fromkeys(scoring.groups, 0.0)
        for rule in scoring.indicators:
            pts = indicator_points(unit_rates.get(rule.name), rule)
            result.points[rule.name] = pts
            groups[rule.group] += pts
        result.groups = groups
        total = sum(result.points.values())
        result.total = round(total, scoring.decimals)
        score = total * 100.0 / scoring.max_total if scoring.scale_to_100 else total
        result.score = round(score, scoring.decimals)
        result.level = level_of(result.score, scoring.bands)
    for kind in set(kinds.values()):
        ranks = competition_ranks({u: s.score for u, s in out.items() if s.kind == kind})
        for unit, rank in ranks.items():
            out[unit].rank = rank
    return out


def scoring_from_dict(raw: Mapping[str, Any]) -> Scoring:
    """Rules from the ``config/scoring.toml`` form (see that file); raises :class:`ConfigError`.

    ``raw["indicators"]`` maps indicator name → ``{group, max_points, full_rate}`` (an entry
    with ``max_points = 0`` or ``enabled = false`` is not scored); ``raw["bands"]`` maps level
    → lowest score.
    """
    try:
        version = str(raw["version"])
        rules = []
        for name, spec in dict(raw["indicators"]).items():
            if not spec.get("enabled", True) or float(spec["max_points"]) == 0:
                continue
            rule = IndicatorRule(
                name, str(spec["group"]), float(spec["max_points"]), float(spec["full_rate"])
            )
            if rule.max_points < 0 or not 0 < rule.full_rate <= 1:
                raise ConfigError(
                    f"scoring indicator {name}: max_points ≥ 0 and 0 < full_rate ≤ 1 required"
                )
            rules.append(rule)
        bands = tuple(
            sorted(
                (Band(str(level), float(low)) for level, low in dict(raw["bands"]).items()),
                key=lambda b: -b.min_score,
            )
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"scoring configuration: missing or bad field ({exc})") from exc
    if not rules:
        raise ConfigError("scoring configuration: no indicator is scored")
    return Scoring(
        version,
        tuple(rules),
        bands,
        scale_to_100=bool(raw.get("scale_to_100", True)),
        decimals=int(raw.get("decimals", 2)),
        targets=tuple((str(k), float(v)) for k, v in dict(raw.get("targets", {})).items()),
    )


def apply_overrides(raw: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``raw`` with each dotted key of ``overrides`` set
    (``{"indicators.on_time_rate.max_points": 25, "bands.A": 85}``)."""
    out: dict[str, Any] = _deep_copy(raw)
    for dotted, value in overrides.items():
        node = out
        *path, last = dotted.split(".")
        for part in path:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"scoring override {dotted!r}: {part!r} is not a table")
        node[last] = value
    return out


def _deep_copy(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in raw.items()}
