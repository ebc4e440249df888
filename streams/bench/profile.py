"""Reading py-spy's raw (collapsed-stack) profiles of the worker: where its time goes.

py-spy samples every thread; a line is ``frame;frame;…;leaf COUNT`` with frames like
``function (module/path.py:line)``. :func:`summarize` reports the top leaf frames (self time)
and the share of samples whose stack passes through each stage of the pipeline (inclusive
time), over the worker's event-loop thread and all threads.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

STAGES: dict[str, tuple[str, ...]] = {
    "decode (Codec.decode)": ("decode (streams/codec.py",),
    "pipeline core (BatchProcessor.process)": ("process (streams/pipeline.py",),
    "state writes (commit_state → Faust table)": ("commit_state (streams/pipeline.py",),
    "ClickHouse insert (sink.write)": ("write (sinks/clickhouse.py",),
    "dead-letter/late sends": ("send (faust/topics.py",),
    "Faust consumer: fetch → Event (drain/on_message)": (
        "_drain_messages (faust/transport/consumer.py",
        "on_message (faust/transport/conductor.py",
    ),
    "Faust stream: take_events/Event/ack": (
        "take_events (faust/streams.py",
        "_py_aiter (faust/streams.py",
        "ack (faust/streams.py",
        "ack (faust/transport/consumer.py",
    ),
    "Faust changelog producer (send_soon/flush)": (
        "send_soon (faust/",
        "_send_changelog",
        "on_changelog_sent",
        "maybe_flush (faust/",
    ),
    "aiokafka fetcher": ("aiokafka/consumer/fetcher.py",),
    "aiokafka producer": ("aiokafka/producer/",),
    "asyncio loop idle (select)": ("select (selectors.py",),
}
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
    return {
        "samples": total,
        "stages": {k: round(v / total, 3) for k, v in stages.most_common()} if total else {},
        "top_self": [(f, round(c / total, 3)) for f, c in leaves.most_common(top)] if total else [],
        "threads": {k: round(v / total, 3) for k, v in threads.most_common(8)} if total else {},
    }
