"""bench.changelog on an hour of simulated real-time traffic: once units hold an hour of
one-minute buckets, the bucket records a batch writes for its units are a small fraction of
the whole windows values the store logged before them."""

from __future__ import annotations

from bench.changelog import run


def test_bucket_records_cost_a_fraction_of_whole_values() -> None:
    result = run(rate=20.0, hours=1.0)
    assert result["events"] == 72_000
    last = result["bytes_per_event_last_quarter_hour"]
    assert last["unit_records"] * 10 < last["unit_whole_values"]
    assert last["dossier"] > 0
    # 49 simulated units, each holding an hour of minute buckets in one value of ~9.5 KB
    assert result["unit_values"]["units"] == 49
    assert result["unit_values"]["largest_bytes"] > 60 * 136
