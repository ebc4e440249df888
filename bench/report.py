"""The bench's figures as a readable table (rich) and as JSON for comparing runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


def _num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "—"
    if isinstance(value, int | float):
        return f"{value:,.{digits}f}"
    return str(value)


def _ratio(ours: Any, theirs: Any) -> str:
    if not ours or not theirs:
        return "—"
    return f"{ours / theirs:.2f}×"


def render(results: dict[str, Any], console: Console | None = None) -> None:
    """Print the throughput, latency, reference and scaling tables of ``results``."""
    console = console or Console()
    runs = results.get("throughput", {})
    if runs:
        table = Table(title="Sustained end-to-end throughput (first consumed → all in ClickHouse)")
        for col in (
            "input",
            "events",
            "worker ev/s",
            "CPU s / M ev",
            "peak RSS MB",
            "consume-only ev/s",
            "ceiling ev/s",
            "÷ ceiling",
            "Quix ev/s",
            "÷ Quix",
            "Bytewax ev/s",
            "÷ Bytewax",
            "Faust floor ev/s",
            "core ev/s",
            "in ClickHouse",
        ):
            table.add_column(col, justify="right")  # fmt: skip
        for encoding, run in runs.items():
            worker = run["worker"]
            ceiling = run.get("ceiling") or {}
            peer = run.get("peer") or {}
            bytewax = run.get("peer_bytewax") or {}
            ch = worker.get("clickhouse", {})
            table.add_row(
                encoding,
                _num(worker["events"]),
                _num(worker["events_per_s"]),
                _num(worker["cpu_s_per_million"]),
                _num(worker["peak_rss_mb"]),
                _num((run.get("ceiling_consume") or {}).get("events_per_s")),
                _num(ceiling.get("events_per_s")),
                _ratio(worker["events_per_s"], ceiling.get("events_per_s")),
                _num(peer.get("events_per_s")) if peer else results.get("peer_skipped", "—"),
                _ratio(worker["events_per_s"], peer.get("events_per_s")),
                _num(bytewax.get("events_per_s")) if bytewax else results.get("peer_skipped", "—"),
                _ratio(worker["events_per_s"], bytewax.get("events_per_s")),
                _num((run.get("faust_floor") or {}).get("events_per_s")),
                _num((run.get("core") or {}).get("events_per_s")),
                f"{_num(ch.get('events'))} of {_num(worker['accepted'])} accepted",
            )
        console.print(table)
    latency = results.get("latency")
    if latency:
        table = Table(title=f"Latency at a steady {latency['rate_achieved']:,.0f} events/s")
        for col in ("to", "p50 s", "p99 s", "max s", "events"):
            table.add_column(col, justify="right")
        for label, key in (("live table", "live_table_s"),
                           ("ClickHouse (committed)", "clickhouse_visible_s")):  # fmt: skip
            q = latency[key]
            table.add_row(
                label, _num(q["p50"], 3), _num(q["p99"], 3), _num(q["max"], 3),
                _num(latency["events_stored"]),
            )  # fmt: skip
        console.print(table)
    scaling = results.get("scaling")
    if scaling:
        table = Table(title="Scaling")
        for col in ("case", "events", "ev/s", "CPU s / M ev", "peak RSS MB", "note"):
            table.add_column(col, justify="right")
        for name, run in scaling.items():
            if "error" in run:
                table.add_row(name, "", "", "", "", run["error"][:60])
                continue
            table.add_row(
                name, _num(run["events"]), _num(run["events_per_s"]),
                _num(run["cpu_s_per_million"]), _num(run["peak_rss_mb"]), run.get("note", ""),
            )  # fmt: skip
        console.print(table)
    for name, summary in results.get("profiles", {}).items():
        table = Table(title=f"Profile ({name}): share of GIL-holding samples")
        table.add_column("stage / frame")
        table.add_column("share", justify="right")
        for stage, share in summary["stages"].items():
            table.add_row(stage, f"{share:.1%}")
        table.add_section()
        for frame, share in summary["top_self"][:12]:
            table.add_row(f"self: {frame}", f"{share:.1%}")
        console.print(table)


def write_json(results: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n")
