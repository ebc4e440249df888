"""`emc reconcile`'s fact check on the real engine: the facts the materialized view keeps agree
with the events (simulated lifecycles plus crafted corner cases); a lost, an altered and a
phantom fact are each found, with the counts per unit; the period filter applies; the command
prints them and exits 1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from streams.core.events import TOPIC_BY_TYPE
from streams.core.messages import RawMessage
from streams.health.fact_check import ROW, check_facts
from streams.kafka.codec import encode_json
from streams.traffic.simulate import generate
from tests.assessment.fixtures import (
    DAY,
    REGISTRY,
    H,
    feed,
    feedback,
    local,
    new_processor,
    open_sink,
    receipt,
    result,
    status,
)

pytestmark = pytest.mark.integration

JULY = local("2026-07-01 00:00")
T = local("2026-07-10 08:00")


def test_facts_agree_with_events_until_tampered(clickhouse_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server = clickhouse_factory()
    sink = open_sink(server.dsn)
    processor = new_processor(local("2026-12-01 00:00"))
    events = generate(REGISTRY, 4000, JULY, seed=11, rate_per_s=0.01)
    for lo in range(0, len(events), 1000):
        messages = [
            RawMessage(TOPIC_BY_TYPE[k], 0, lo + i, e["unit_code"].encode(), encode_json(e))
            for i, (k, e) in enumerate(events[lo : lo + 1000])
        ]
        out = processor.process(messages)
        sink.write(out.sink_batch)
        processor.commit_state(out)
    # Corner cases: rated twice (the latest counts), refused, a result whose receipt never came,
    # the same batch replayed (facts are idempotent).
    crafted = [
        receipt("HA_NOI", "C1", T, T + 5 * DAY, fee="in_person"),
        result("HA_NOI", "C1", T + DAY, paid_online=True),
        feedback("HA_NOI", "C1", T + 2 * DAY, "dissatisfied", "a"),
        feedback("HA_NOI", "C1", T + 3 * DAY, "satisfied", "b"),
        receipt("HA_NOI", "C2", T, T + 5 * DAY),
        status("HA_NOI", "C2", T + H, 3),
        result("HA_NOI", "C3", T + DAY),
    ]
    feed(sink, processor, [crafted])
    feed(sink, new_processor(local("2026-12-01 00:00")), [crafted])
    try:
        clean = check_facts(sink)
        assert clean.ok and clean.differences == [], clean.differences[:5]
        hn = next(u for u in clean.units if u.unit_code == "HA_NOI")
        assert hn.receipts_events == hn.receipts_facts
        assert hn.dossiers_events == hn.dossiers_facts == hn.receipts_events + 1  # C3
        n_dossiers = sink.query_rows("SELECT count() FROM emc.dossier_facts")[0][0]
        assert clean.dossiers_compared == n_dossiers > 1000
        c1 = sink.query_rows(
            "SELECT rating, feedback_events, paid_online FROM emc.dossier_facts "
            "WHERE dossier_id = 'C1'"
        )
        assert c1 == [("satisfied", 2, True)]  # the check compared real values, not NULLs

        # Tamper: lose one dossier's facts, alter another's (a later last event and an
        # earlier closing time), add a phantom dossier copied from a third.
        lost, altered, copied = (
            r[0]
            for r in sink.query_rows(
                "SELECT dossier_id FROM emc.dossier_facts WHERE unit_code = 'DA_NANG' "
                "AND received_at IS NOT NULL AND finished_at IS NOT NULL "
                "ORDER BY dossier_id LIMIT 3"
            )
        )
        sink.command(
            "ALTER TABLE emc.dossier_fact_states DELETE "
            "WHERE unit_code = 'DA_NANG' AND dossier_id = {d:String} SETTINGS mutations_sync = 2",
            {"d": lost},
        )
        sink.command(
            "INSERT INTO emc.dossier_fact_states SELECT unit_code, dossier_id, receipt, result, "
            "rating, feedback_events, toDateTime64('2026-07-02 00:00:00', 3, "
            "'Asia/Ho_Chi_Minh'), last_event_at + INTERVAL 1 DAY, version "
            "FROM emc.dossier_fact_states WHERE unit_code = 'DA_NANG' AND dossier_id = {d:String}",
            {"d": altered},
        )
        sink.command(
            "INSERT INTO emc.dossier_fact_states SELECT unit_code, 'PHANTOM', receipt, result, "
            "rating, feedback_events, closed_at, last_event_at, version "
            "FROM emc.dossier_fact_states WHERE unit_code = 'DA_NANG' AND dossier_id = {d:String}",
            {"d": copied},
        )
        report = check_facts(sink)
        assert not report.ok and report.differing == 3
        assert [u.unit_code for u in report.differing_units()] == ["DA_NANG"]
        dn = report.differing_units()[0]
        before = next(u for u in clean.units if u.unit_code == "DA_NANG")
        assert (dn.dossiers_events, dn.dossiers_facts) == (
            before.dossiers_events,
            before.dossiers_events,  # one lost, one phantom
        )
        assert (dn.receipts_events, dn.receipts_facts) == (
            before.receipts_events,
            before.receipts_events,  # the phantom copies a receipt
        )
        found = {(d.dossier_id, d.column, d.facts is None, d.events is None)
                 for d in report.differences}  # fmt: skip
        assert found == {
            (lost, ROW, True, False),
            ("PHANTOM", ROW, False, True),
            (altered, "closed_at", False, True),
            (altered, "last_event_at", False, False),
        }
        moved = next(d for d in report.differences if d.column == "last_event_at")
        assert (moved.facts - moved.events).total_seconds() == 86_400
        assert "missing from dossier_facts" in next(
            d.describe() for d in report.differences if d.dossier_id == lost
        )
        # a period with none of these dossiers' receipts finds nothing
        assert check_facts(sink, since="2027-01-01T00:00:00+07:00").ok
    finally:
        sink.close()

    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", "reconcile"],
        capture_output=True,
        text=True,
        timeout=300,
        env={
            **os.environ,
            "EMC_DATA_DIR": str(tmp_path / "var"),
            "EMC_CLICKHOUSE__DSN": server.dsn,
        },
    )
    print(done.stdout)
    assert done.returncode == 1, done.stderr
    assert "3 dossiers differ" in done.stdout, done.stdout
    assert f"DA_NANG {lost}: missing from dossier_facts" in done.stdout
    assert "DA_NANG PHANTOM: not in dossier_events" in done.stdout
    assert f"DA_NANG {altered} closed_at: facts 2026-07-02 00:00:00.000, events NULL" in done.stdout
