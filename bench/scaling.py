"""``emc bench --scaling``: how throughput and memory move with workers, units and open dossiers.

- workers: 1 vs 2 worker processes on 8 partitions, same stream (each worker has its own
  embedded ClickHouse store: chdb allows one process per data path);
- units: the 83-unit registry vs 10,000 synthetic commune-level units (a registry file in a
  temporary ``EMC_CONFIG_DIR``), same number of events;
- open dossiers: the first N events of a real-time simulation (``time_scale=1``: ~99 % receipts,
  lifecycles take hours to days) leave ~N open dossiers in the lifecycle state; memory vs
  RocksDB store; peak RSS is the worker's VmHWM after the last batch. These cases write to
  ClickHouse in a process of its own (as to a server, production's shape), so the worker's RSS
  is the worker's; the engine's own peak RSS is reported next to it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from bench.suite import throughput_phase
from bench.workload import build_workload, write_units_csv
from streams.core.registry import UnitRegistry, default_units_path


def _config_dir(root: Path, n_units: int) -> Path:
    """A copy of the config directory whose units.csv has ``n_units`` units."""
    target = root / f"config-{n_units}"
    shutil.copytree(default_units_path().parent, target, dirs_exist_ok=True)
    write_units_csv(target / "units.csv", n_units, UnitRegistry.load())
    return target


def _guarded(name: str, say: Callable[[str], None], fn: Callable[[], dict[str, Any]]) -> Any:
    say(f"[bold]scaling[/bold]: {name}")
    try:
        result = fn()
    except Exception as exc:  # one failed case must not lose the others' figures
        say(f"  [red]{name} failed: {exc}[/red]")
        return {"error": str(exc)}
    say(f"  {result['events_per_s']:,.0f} events/s, peak RSS {result['peak_rss_mb']:,.0f} MB")
    return result


def run_scaling(
    work: Path, n_events: int, *, seed: int = 7, quick: bool = False,
    say: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:  # fmt: skip
    """All scaling cases; each value is a :func:`throughput_phase` result (or an error)."""
    registry = UnitRegistry.load()
    out: dict[str, Any] = {}
    stream = build_workload(registry, n_events, "json", seed=seed)
    for workers in (1, 2):
        out[f"{workers} worker(s), 8 partitions"] = _guarded(
            f"{workers} worker(s) on 8 partitions",
            say,
            partial(
                throughput_phase, work / f"workers-{workers}", stream, partitions=8,
                workers=workers, say=say,
            ),
        )  # fmt: skip
    out["83 units"] = _guarded(
        "83 units", say, partial(throughput_phase, work / "units-83", stream, say=say)
    )
    n_units = 2_000 if quick else 10_000
    config = _config_dir(work, n_units)
    wide = build_workload(UnitRegistry.load(config / "units.csv"), n_events, "json", seed=seed)
    out[f"{n_units:,} units"] = _guarded(
        f"{n_units:,} units",
        say,
        partial(
            throughput_phase, work / f"units-{n_units}", wide, say=say,
            worker_env={"EMC_CONFIG_DIR": str(config)},
        ),
    )  # fmt: skip
    # ~93 % of the first events are receipts: 1,080,000 events → ~1,005,000 open dossiers.
    sizes = (10_000, 50_000) if quick else (100_000, 1_080_000)
    for receipts in sizes:
        # time_scale=1: lifecycles take hours to days, so the first ~N events are ~99 %
        # receipts and nearly every dossier stays open.
        heavy = build_workload(
            registry, receipts, "json", seed=seed, time_scale=1.0, late_share=0.0
        )
        opened = heavy.by_type.get("received", 0)
        for store in ("memory", "rocksdb"):
            name = f"{opened:,} open dossiers, {store}"
            result = _guarded(
                name,
                say,
                partial(
                    throughput_phase, work / f"dossiers-{receipts}-{store}", heavy, say=say,
                    worker_env={"EMC_STREAM__STORE": store}, timeout_s=3600,
                    clickhouse_server=True,
                ),
            )  # fmt: skip
            if "error" not in result:
                result["note"] = f"{opened:,} receipts in state"
            out[name] = result
    shutil.rmtree(work, ignore_errors=True)
    return out
