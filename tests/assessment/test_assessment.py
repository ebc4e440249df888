"""The period assessment on the real engine (pipeline → dossier_events → dossier_facts → SQL →
scores), compared number by number with values computed by hand in this file.

Crafted quarter 2026-Q3, with a scoring file of three indicators chosen so hand sums are exact:
remote_rate (max 39.99, full at 0.5), on_time_rate (max 0.01, full at 1.0), satisfaction_rate
(max 60, full at 1.0); the three maxima add up to 100.

Ministries
- BO_CONG_AN: D1, D2 online citizens, results on time; D1 very satisfied, D2 dissatisfied and
  later satisfied (the latest rating counts). remote 2/2, on time 2/2, satisfied 2/2 → 100.00 A.
  D1's fee was paid in person at receipt but the result says paid online → online payment 1/1.
- BO_CONG_THUONG: the same shape → 100.00 A: tied, both rank 1.
- BO_GDDT: D1 online citizen, result late; D2 in person, still open past due.
  remote 1/2 = 0.5 → 39.99; on time 0/2 → 0; satisfied 1/2 (neutral, satisfied) → 30.
  69.99 → C, rank 3 (not 2: 1, 1, 3).
Provinces
- AN_GIANG: six online dossiers, all on time, five satisfied and one neutral: 39.99 + 0.01 +
  60 × 5/6 = 90.00 → A, rank 1.
- BAC_NINH: the same six, all late: 39.99 + 0 + 50 = 89.99 → B, rank 2.
Every other unit of the registry received nothing: listed without rates, score, level, rank.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from streams.assessment import NoDataError, assess, load_scoring, read_scores, store
from streams.core.periods import parse_period
from streams.core.scoring import Band
from streams.settings import Settings
from tests.assessment.fixtures import (
    DAY,
    REGISTRY,
    Ev,
    H,
    feed,
    feedback,
    local,
    new_processor,
    open_sink,
    receipt,
    result,
    scoring_file,
)

pytestmark = pytest.mark.integration

SCORING = """
version = "test-3"
scale_to_100 = true
decimals = 2
[indicators.remote_rate]
group = "online_service"
max_points = 39.99
full_rate = 0.5
[indicators.on_time_rate]
group = "progress"
max_points = 0.01
full_rate = 1.0
[indicators.satisfaction_rate]
group = "satisfaction"
max_points = 60
full_rate = 1.0
[bands]
A = 90
B = 80
C = 65
D = 50
E = 0
[targets]
remote_rate = 0.5
"""

T = local("2026-07-10 08:00")
DUE = T + 5 * DAY
ON_TIME = T + 2 * DAY
LATE = T + 7 * DAY


def crafted_events() -> list[list[Ev]]:
    receipts: list[Ev] = []
    later: list[Ev] = []
    for unit in ("BO_CONG_AN", "BO_CONG_THUONG"):
        receipts += [
            receipt(unit, f"{unit}-D1", T, DUE, fee="in_person"),
            receipt(unit, f"{unit}-D2", T + H, DUE),
        ]
        later += [
            result(unit, f"{unit}-D1", ON_TIME, paid_online=True),
            result(unit, f"{unit}-D2", ON_TIME),
            feedback(unit, f"{unit}-D1", ON_TIME + H, "very_satisfied"),
            feedback(unit, f"{unit}-D2", ON_TIME + H, "dissatisfied", "a"),
            feedback(unit, f"{unit}-D2", ON_TIME + 3 * H, "satisfied", "b"),
        ]
    u = "BO_GDDT"
    receipts += [
        receipt(u, f"{u}-D1", T, DUE),
        receipt(u, f"{u}-D2", T, DUE, channel="in_person"),
    ]
    later += [
        result(u, f"{u}-D1", LATE),
        feedback(u, f"{u}-D1", LATE + H, "neutral"),
        feedback(u, f"{u}-D2", LATE + H, "satisfied"),
    ]
    for unit, finished in (("AN_GIANG", ON_TIME), ("BAC_NINH", LATE)):
        for i in range(6):
            dossier = f"{unit}-D{i}"
            receipts.append(receipt(unit, dossier, T + i * H, DUE))
            later.append(result(unit, dossier, finished))
            later.append(
                feedback(unit, dossier, finished + H, "neutral" if i == 0 else "satisfied")
            )
    return [receipts, later]


@pytest.fixture
def crafted(clickhouse_factory, tmp_path: Path):  # type: ignore[no-untyped-def]
    server = clickhouse_factory()
    sink = open_sink(server.dsn)
    feed(sink, new_processor(local("2026-12-01 00:00")), crafted_events())
    settings = Settings(assessment={"scoring_file": str(scoring_file(tmp_path, SCORING))})
    yield sink, settings
    sink.close()


def test_indicators_points_levels_and_ranks_match_the_hand_computation(crafted) -> None:  # type: ignore[no-untyped-def]
    sink, settings = crafted
    scoring = load_scoring(settings)
    a = assess(sink, REGISTRY, parse_period("2026-Q3"), scoring)

    hand = {
        # unit: (received, online, remote, finished, on_time, overdue_open, feedback, satisfied)
        "BO_CONG_AN": (2, 2, 2, 2, 2, 0, 2, 2),
        "BO_CONG_THUONG": (2, 2, 2, 2, 2, 0, 2, 2),
        "BO_GDDT": (2, 1, 1, 1, 0, 1, 2, 1),
        "AN_GIANG": (6, 6, 6, 6, 6, 0, 6, 5),
        "BAC_NINH": (6, 6, 6, 6, 0, 0, 6, 5),
    }
    names = ("received", "online", "remote", "finished", "finished_on_time", "overdue_open",
             "feedback", "satisfied")  # fmt: skip
    for unit, values in hand.items():
        r = a.get(unit)
        assert r is not None
        assert tuple(r.counters[n] for n in names) == values, unit

    m1 = a.get("BO_CONG_AN")
    assert m1 is not None
    assert m1.counters["fee_dossiers"] == 1 and m1.counters["online_payment"] == 1
    assert m1.rates["online_payment_rate"] == 1.0
    assert m1.counters["fully_online"] == 2

    expected = {
        # unit: (remote pts, on-time pts, satisfaction pts, score, level, rank)
        "BO_CONG_AN": (39.99, 0.01, 60.0, 100.0, "A", 1),
        "BO_CONG_THUONG": (39.99, 0.01, 60.0, 100.0, "A", 1),
        "BO_GDDT": (39.99, 0.0, 30.0, 69.99, "C", 3),
        "AN_GIANG": (39.99, 0.01, 50.0, 90.0, "A", 1),
        "BAC_NINH": (39.99, 0.0, 50.0, 89.99, "B", 2),
    }
    for unit, (remote, on_time, satisfied, score, level, rank) in expected.items():
        s = a.get(unit).score  # type: ignore[union-attr]
        assert s.points["remote_rate"] == pytest.approx(remote), unit
        assert s.points["on_time_rate"] == pytest.approx(on_time), unit
        assert s.points["satisfaction_rate"] == pytest.approx(satisfied), unit
        assert s.groups["satisfaction"] == pytest.approx(satisfied), unit
        assert (s.score, s.level, s.rank) == (score, level, rank), unit
    assert a.get("BO_GDDT").targets == {"remote_rate": True}  # type: ignore[union-attr]

    silent = a.get("BO_TAI_CHINH")
    assert silent is not None and silent.received == 0
    assert all(v is None for v in silent.rates.values())
    assert (silent.score.score, silent.score.level, silent.score.rank) == (None, None, None)
    assert silent.targets == {"remote_rate": None}
    assert len(a.results) == len(REGISTRY.valid_at(T))  # the 49 units in force in Q3 2026
    assert a.average_score("ministry") == pytest.approx((100 + 100 + 69.99) / 3)
    assert a.level_shares("province") == {"A": 1, "B": 1, "C": 0, "D": 0, "E": 0}

    store(sink, a)
    rows = {r["unit_code"]: r for r in read_scores(sink, "2026-Q3")}
    assert rows["BAC_NINH"]["score"] == 89.99 and rows["BAC_NINH"]["level"] == "B"
    assert rows["BO_GDDT"]["rank"] == 3 and rows["BO_TAI_CHINH"]["score"] is None
    assert {r["scoring_version"] for r in rows.values()} == {"test-3"}


def test_weights_changed_by_configuration_rescore_and_rename_the_version(crafted) -> None:  # type: ignore[no-untyped-def]
    sink, settings = crafted
    overridden = settings.model_copy(
        update={
            "assessment": settings.assessment.model_copy(
                update={"overrides": {"indicators.satisfaction_rate.full_rate": 0.5}}
            )
        }
    )
    scoring = load_scoring(overridden)
    assert scoring.version.startswith("test-3+")
    a = assess(sink, REGISTRY, parse_period("2026-07-01..2026-09-30"), scoring)
    # satisfaction now full at 50%: BO_GDDT's 1/2 earns all 60 points, the provinces' 5/6 too.
    got = {u: (a.get(u).score.score, a.get(u).score.rank) for u in  # type: ignore[union-attr]
           ("BO_CONG_AN", "BO_CONG_THUONG", "BO_GDDT", "AN_GIANG", "BAC_NINH")}  # fmt: skip
    assert got == {
        "BO_CONG_AN": (100.0, 1),
        "BO_CONG_THUONG": (100.0, 1),
        "BO_GDDT": (99.99, 3),
        "AN_GIANG": (100.0, 1),
        "BAC_NINH": (99.99, 2),
    }
    # bands are configuration too: with A from 99.995, 99.99 is B
    strict = replace(scoring, bands=(Band("A", 99.995), *scoring.bands[1:]))
    rescored = assess(sink, REGISTRY, parse_period("2026-Q3"), strict).get("BAC_NINH")
    assert rescored is not None and rescored.score.level == "B"


def test_a_period_without_receipts_is_a_clear_error(crafted) -> None:  # type: ignore[no-untyped-def]
    sink, settings = crafted
    with pytest.raises(NoDataError, match="2026-Q2"):
        assess(sink, REGISTRY, parse_period("2026-Q2"), load_scoring(settings))


def test_a_result_and_a_feedback_months_later_reach_the_quarter(clickhouse_factory) -> None:  # type: ignore[no-untyped-def]
    """Received 2026-07-10, result 2026-08-25 (on time), feedback 2026-10-02 (satisfied), each
    in its own batch: the Q3 figures count the dossier on time and satisfied, although the
    live 1-day bucket of 2026-07-10 closed long before the feedback (its row never sees it)."""
    sink = open_sink(clickhouse_factory().dsn)
    received = local("2026-07-10 09:00")
    unit = "HA_NOI"
    feed(
        sink,
        new_processor(local("2026-12-01 00:00")),
        [
            [receipt(unit, "D", received, local("2026-09-01 17:00"))],
            [result(unit, "D", local("2026-08-25 10:00"))],
            [feedback(unit, "D", local("2026-10-02 15:00"), "satisfied")],
        ],
    )
    a = assess(sink, REGISTRY, parse_period("2026-Q3"), load_scoring(Settings()))
    r = a.get(unit)
    assert r is not None
    assert (r.counters["finished_on_time"], r.counters["feedback"], r.counters["satisfied"]) == (
        1,
        1,
        1,
    )
    assert r.rates["on_time_rate"] == 1.0 and r.rates["satisfaction_rate"] == 1.0
    live = sink.query_rows(
        "SELECT feedback FROM emc.unit_window_rollup FINAL "
        "WHERE unit_code = 'HA_NOI' AND window = '1d'"
    )
    assert live == [(0,)]  # the day bucket had closed: exactness comes from the facts
    assert parse_period("2026-10").start_ms > received  # the feedback's month is not Q3
