"""Reading py-spy's raw (collapsed-stack) profiles of the worker: where its time goes.

py-spy samples every thread; a line is ``frame;frame;…;leaf COUNT`` with frames like
``function (module/path.py:line)``. :func:`summarize` reports the top leaf frames (self time)
and each sample attributed to one stage (:data:`STAGES`, first match in order), so the stage
shares add up to 1.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

STAGES: dict[str, tuple[str, ...]] = {
    "ClickHouse insert (sink.write)": ("sinks/clickhouse.py", "clickhouse_connect/"),
    "decode (Codec.decode_batch)": ("streams/kafka/codec.py",),
    "changelog records (StateStore._log, release → producer)": (
        "_log (streams/kafka/state_store.py",
        "release (streams/kafka/state_store.py",
        "produce (streams/kafka/state_store.py",
    ),
    "state writes to the local values (commit_state)": ("commit_state (streams/core/pipeline.py",),
    "dossier state decode/encode (streams/core/lifecycle.py)": ("streams/core/lifecycle.py",),
    "pipeline core: dedup, windows, lifecycles, rows (process)": ("streams/core/",),
    "bulk feed thread: consume, RawMessage, flush, commit": ("streams/kafka/feed.py",),
    "reported-totals consumer thread": ("streams/worker/totals_feed.py",),
    "agent body glue (batch hand-over, outcome bookkeeping)": ("streams/worker/app.py",),
    "Faust per-message path: fetch → Message → Event → stream → ack": (
        "faust/transport/consumer.py",
        "faust/transport/conductor.py",
        "faust/transport/drivers/aiokafka.py",
        "faust/streams.py",
        "faust/events.py",
        "faust/sensors/",
        "faust/serializers/",
        "mode/utils/queues.py",
    ),
    "aiokafka network I/O and protocol": ("aiokafka/",),
    "web and health services": ("streams/health/", "streams/web/", "aiohttp/"),
    "logging calls (debug, filtered)": ("logging/__init__.py",),
    "event loop waiting (select)": ("select (selectors.py",),
    "asyncio scheduling: tasks, futures, callbacks": ("asyncio/", "mode/"),
}
"""Exclusive categories, first match wins (checked against the whole stack, in this order).
Every stack of the agent runs under ``faust/agents/``, so that path names no stage."""
_FRAME = re.compile(r"^(?P<fn>\S+) \((?P<file>[^:)]+)")


def _short(frame: str) -> str:
    match = _FRAME.match(frame)
    if not match:
        return frame
    path = match["file"]
    for marker in ("site-packages/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{match['fn']} ({path})"


def summarize(path: Path, top: int = 25, thread_filter: str | None = None) -> dict[str, Any]:
    """Top self frames and stage shares of a py-spy raw profile (shares in [0, 1])."""
    total = 0
    leaves: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread = frames[0] if frames and frames[0].startswith(("process ", "thread ")) else ""
        if thread_filter is not None and thread_filter not in stack:
            continue
        total += count
        threads[thread] += count
        leaves[_short(frames[-1])] += count
        for stage, markers in STAGES.items():
            if any(m in stack for m in markers):
                stages[stage] += count
                break
        else:
            stages["other"] += count
    return {
        "samples": total,
        "stages": {k: round(v / total, 3) for k, v in stages.most_common()} if total else {},
        "top_self": [(f, round(c / total, 3)) for f, c in leaves.most_common(top)] if total else [],
        "threads": {k: round(v / total, 3) for k, v in threads.most_common(8)} if total else {},
    }
