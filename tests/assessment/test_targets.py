"""Seed 003's catalogue targets for provinces — at least 80% of procedures offered online and at
least 80% of those fully online — met or not met per period, from catalogues imported as .xlsx
files (streams.health.imports: parse, validate, write a version) on the real engine.

Catalogue levels by hand (0 / 2: not online, 3: partly online, 4: fully online; online = 3 or 4,
fully online share = level 4 ÷ online):

- HA_NOI     0 4 4 4 4          online 4/5 = 80%  (met, the edge)   fully 4/4 = 100% (met)
- QUANG_NINH 3 3 4×8            online 10/10      (met)             fully 8/10 = 80% (met, edge)
- THANH_HOA  0 0 2 3 3 4×5      online 7/10 = 70% (not met)         fully 5/7 ≈ 71%  (not met)
- NGHE_AN    2 4 4 4            online 3/4 = 75%  (not met)         fully 3/3        (met)
- HA_TINH    3 3 4×7            online 9/9        (met)             fully 7/9 ≈ 78%  (not met)
- LANG_SON   no catalogue: both targets not measurable (None).
- BO_CONG_AN (a ministry) has a catalogue, but the targets are the provinces': none applies.

HA_NOI imports a second version on 2026-10-15 (every procedure level 0): Q3 still uses the
first (the version in force at the period end), Q4 the second — online 0/5 (not met), fully
online not measurable (no online procedure).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sinks.clickhouse import ClickHouseSink
from streams.assessment import assess, load_scoring, read_scores, store
from streams.core.periods import parse_period
from streams.health.imports import parse_catalogue, write_version
from streams.settings import Settings
from tests.assessment.fixtures import (
    DAY,
    REGISTRY,
    feed,
    local,
    new_processor,
    open_sink,
    receipt,
)
from tests.health.test_imports import CATALOGUE_HEADER, write_xlsx

pytestmark = pytest.mark.integration

LEVELS: dict[str, list[int]] = {
    "HA_NOI": [0, 4, 4, 4, 4],
    "QUANG_NINH": [3, 3, *[4] * 8],
    "THANH_HOA": [0, 0, 2, 3, 3, *[4] * 5],
    "NGHE_AN": [2, 4, 4, 4],
    "HA_TINH": [3, 3, *[4] * 7],
    "BO_CONG_AN": [0, 0, 0, 4],
}
ONLINE = "province_online_procedures"
FULLY = "province_fully_online_procedures"


def import_catalogue(
    sink: ClickHouseSink, tmp: Path, unit: str, levels: list[int], at_ms: int
) -> int:
    """Write a catalogue .xlsx of ``levels`` and import it as ``unit``'s next version."""
    rows = [[f"Thủ tục {i + 1}", lv, None, None, f"{unit}-{i:03d}"] for i, lv in enumerate(levels)]
    path = write_xlsx(tmp / f"{unit}-{at_ms}.xlsx", CATALOGUE_HEADER, rows)
    return write_version(sink, unit, parse_catalogue(path), at_ms)


def test_catalogue_targets_met_and_not_met(clickhouse_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sink = open_sink(clickhouse_factory().dsn)
    try:
        t = local("2026-07-10 08:00")
        units = [*LEVELS, "LANG_SON"]
        receipts = [receipt(u, f"{u}-D", t, t + 5 * DAY) for u in units]
        october = local("2026-10-20 08:00")
        receipts.append(receipt("HA_NOI", "HA_NOI-Q4", october, october + 5 * DAY))
        feed(sink, new_processor(local("2026-12-01 00:00")), [receipts])
        for unit, levels in LEVELS.items():
            assert import_catalogue(sink, tmp_path, unit, levels, local("2026-06-01 09:00")) == 1
        assert import_catalogue(sink, tmp_path, "HA_NOI", [0] * 5, local("2026-10-15 09:00")) == 2

        scoring = load_scoring(Settings())
        targets = dict(scoring.targets)
        assert (targets[ONLINE], targets[FULLY]) == (0.8, 0.8)  # config/scoring.toml, seed 003
        q3 = assess(sink, REGISTRY, parse_period("2026-Q3"), scoring)
        expected = {
            "HA_NOI": (4 / 5, 4 / 4, True, True),
            "QUANG_NINH": (10 / 10, 8 / 10, True, True),
            "THANH_HOA": (7 / 10, 5 / 7, False, False),
            "NGHE_AN": (3 / 4, 3 / 3, False, True),
            "HA_TINH": (9 / 9, 7 / 9, True, False),
            "LANG_SON": (None, None, None, None),
        }
        for unit, (online, fully, online_met, fully_met) in expected.items():
            r = q3.get(unit)
            assert r is not None, unit
            got_online = r.catalogue.get("online_procedures")
            got_fully = r.catalogue.get("fully_online_procedures")
            assert (got_online, got_fully) == (online, fully), unit
            assert (r.targets[ONLINE], r.targets[FULLY]) == (online_met, fully_met), unit
        ministry = q3.get("BO_CONG_AN")
        assert ministry is not None
        assert ministry.catalogue["online_procedures"] == 1 / 4
        assert ONLINE not in ministry.targets and FULLY not in ministry.targets

        # the targets are stored beside the scores
        store(sink, q3)
        stored = {r["unit_code"]: r["targets_met"] for r in read_scores(sink, "2026-Q3")}
        assert (stored["HA_NOI"][ONLINE], stored["HA_NOI"][FULLY]) == (True, True)
        assert (stored["THANH_HOA"][ONLINE], stored["THANH_HOA"][FULLY]) == (False, False)
        assert (stored["LANG_SON"][ONLINE], stored["LANG_SON"][FULLY]) == (None, None)

        # a later catalogue version counts from its import on, not backwards
        q4 = assess(sink, REGISTRY, parse_period("2026-Q4"), scoring).get("HA_NOI")
        assert q4 is not None
        assert (q4.catalogue["online_procedures"], q4.catalogue["fully_online_procedures"]) == (
            0.0,
            None,
        )
        assert (q4.targets[ONLINE], q4.targets[FULLY]) == (False, None)
    finally:
        sink.close()
