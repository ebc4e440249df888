"""An independent reference model of the rollups: plain Python over the full list of events.

It shares no code with the pipeline: windows, counters and rates are computed here from the
definitions in docs/domain.md and docs/assessment.md (one rating per dossier, its latest; a fee
paid online at any step; fully online by Decree 42's rule), for streams where nothing is late
(every event within the allowed lateness of every window), so that the final rollups do not
depend on how the stream was batched, ordered, duplicated, crashed or rebalanced.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

VN_OFFSET_MS = 7 * 3_600_000
SIZES = {"1m": 60_000, "1h": 3_600_000, "1d": 86_400_000}
CLOSING = {3, 7, 8}

Key = tuple[str, str, int]  # (unit_code, window, window start ms)


def bucket(ts_ms: int, window: str) -> int:
    size = SIZES[window]
    shift = VN_OFFSET_MS if window == "1d" else 0
    return (ts_ms + shift) // size * size - shift


def expected_rollups(events: list[tuple[str, dict[str, Any]]]) -> dict[Key, dict[str, int]]:
    """(unit, window, start) → counters, from (event type, event) pairs in any order."""
    seen: set[str] = set()
    receipts: dict[tuple[str, str], dict[str, Any]] = {}
    results: dict[tuple[str, str], dict[str, Any]] = {}
    closed: set[tuple[str, str]] = set()
    ratings: dict[tuple[str, str], dict[str, Any]] = {}
    """(unit, dossier) → its latest feedback by (event_time, event_id)."""
    watermark: dict[str, int] = defaultdict(lambda: -(2**62))
    for kind, ev in sorted(events, key=lambda ke: ke[1]["event_time"]):
        if ev["event_id"] in seen:
            continue
        seen.add(ev["event_id"])
        unit, dossier = ev["unit_code"], ev["dossier_id"]
        watermark[unit] = max(watermark[unit], ev["event_time"])
        if kind == "received":
            receipts.setdefault((unit, dossier), ev)
        elif kind == "result_returned":
            results.setdefault((unit, dossier), ev)
        elif kind == "processed" and ev["status"] in CLOSING:
            closed.add((unit, dossier))
        elif kind == "feedback":
            latest = ratings.get((unit, dossier))
            if latest is None or (ev["event_time"], ev["event_id"]) > (
                latest["event_time"],
                latest["event_id"],
            ):
                ratings[(unit, dossier)] = ev

    out: dict[Key, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def add(unit: str, received_at: int, **counts: int) -> None:
        for window in SIZES:
            row = out[(unit, window, bucket(received_at, window))]
            for name, value in counts.items():
                row[name] += value

    for (unit, dossier), r in receipts.items():
        online = r["channel"] == "online"
        add(
            unit,
            r["event_time"],
            received=1,
            online=int(online),
            remote=int(online and r["submitter_type"] != "officer"),
            via_national_portal=int(r["via_national_portal"]),
            fee_dossiers=int(r["fee_payment"] != "none"),
            online_payment=int(r["fee_payment"] == "online"),
        )
        x = results.get((unit, dossier))
        if x is not None and x["paid_online"] and r["fee_payment"] != "online":
            # a fee paid online at the result (any step counts)
            add(
                unit,
                r["event_time"],
                online_payment=1,
                fee_dossiers=int(r["fee_payment"] == "none"),
            )
        if x is not None:
            add(
                unit,
                r["event_time"],
                finished=1,
                finished_on_time=int(x["finished_at"] <= r["due_at"]),
                processing_ms_sum=max(0, x["finished_at"] - r["event_time"]),
                fully_online=int(
                    online
                    and r["procedure_level"] == 4
                    and (
                        x["electronic_result"]
                        or (r["postal_return"] and x["result_channel"] == "postal")
                    )
                ),
                results=1,
                results_digitised=int(x["digitised"] and x["electronic_result"]),
            )
        elif (unit, dossier) not in closed and r["due_at"] < watermark[unit]:
            add(unit, r["event_time"], overdue_open=1)
    for f in ratings.values():
        r = receipts.get((f["unit_code"], f["dossier_id"]))
        if r is not None:
            satisfied = f["rating"] in ("very_satisfied", "satisfied")
            add(f["unit_code"], r["event_time"], feedback=1, satisfied=int(satisfied))
    nonzero = {k: {name: c for name, c in v.items() if c} for k, v in out.items()}
    return {k: v for k, v in nonzero.items() if v}


COUNTERS = (
    "received", "online", "remote", "via_national_portal", "fee_dossiers", "online_payment",
    "finished", "finished_on_time", "overdue_open", "processing_ms_sum", "fully_online",
    "results", "results_digitised", "feedback", "satisfied",
)  # fmt: skip


def stored_rollups(rows: list[dict[str, Any]]) -> dict[Key, dict[str, int]]:
    """The same shape from `emc query --format json` rows of emc.unit_window_rollup FINAL
    (selected with ``toUnixTimestamp64Milli(window_start) AS start_ms``); all-zero rows
    dropped (a bucket whose only dossier went overdue and back is all zeros)."""
    out: dict[Key, dict[str, int]] = {}
    for r in rows:
        counts = {c: int(r[c]) for c in COUNTERS if int(r[c])}
        if counts:
            out[(r["unit_code"], r["window"], int(r["start_ms"]))] = counts
    return out


ROLLUP_SQL = (
    "SELECT unit_code, window, toUnixTimestamp64Milli(window_start) AS start_ms, "
    + ", ".join(COUNTERS)
    + " FROM emc.unit_window_rollup FINAL"
)
