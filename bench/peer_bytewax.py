"""The second peer: Bytewax 0.21 counting per-unit 1-minute tumbling windows over the same topics.

Runs in the bench's virtualenv (``.venv-bench``, beside Quix Streams; bench/requirements-peer.txt)
with the repository on ``PYTHONPATH``, as ``python -m bench.peer_bytewax BOOTSTRAP GROUP N``.
The dataflow: Bytewax's Kafka input over the four lifecycle topics (from the beginning, one
worker), each message decoded by the project's :class:`streams.kafka.codec.Codec`, keyed by
unit_code, timestamped by ``event_time`` (an :class:`EventClock` waiting 1 hour of event time,
the worker's allowed lateness of 1-minute windows) and counted in a 60 s
:class:`TumblingWindower` (``count_window``). State stays in memory (no recovery store): the
lightest setting Bytewax offers.

The input keeps tailing (its end-of-topic stop would trust end offsets, which tansu reports
wrong after multi-record batches), so the child prints its JSON and exits once it has seen the
expected number of messages. Its input fetches whole batches before the first message reaches
the dataflow, so the clock starts when the dataflow starts (connection and metadata included:
a few hundred ms, small against a 300,000-event run), not at the first message: events/s from
the start of the dataflow to the N-th message.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from streams.core.events import LIFECYCLE_TOPICS, TYPE_BY_TOPIC
from streams.kafka.codec import Codec


def run(bootstrap: str, group_id: str, expected: int) -> None:
    from importlib.metadata import version

    import bytewax.connectors.kafka.operators as kop
    import bytewax.operators as op
    from bytewax.dataflow import Dataflow
    from bytewax.operators.windowing import EventClock, TumblingWindower, count_window
    from bytewax.testing import run_main

    codec = Codec()
    seen = {"n": 0, "first": 0.0}

    def decode(msg: Any) -> tuple[str, dict[str, Any]]:
        event = codec.decode(TYPE_BY_TOPIC[msg.topic], msg.value)
        return event["unit_code"], event

    def count_input(item: tuple[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
        seen["n"] += 1
        if seen["n"] >= expected:
            finish(version("bytewax"))
        return item

    def finish(version: str) -> None:
        from bench.procs import proc_sample

        elapsed = time.time() - seen["first"]
        sample = proc_sample(os.getpid())
        result = {
            "messages": seen["n"],
            "elapsed_s": round(elapsed, 3),
            "events_per_s": round(seen["n"] / elapsed, 1) if elapsed > 0 else None,
            "cpu_s": sample.cpu_s,
            "peak_rss_bytes": sample.peak_rss_bytes,
            "bytewax": version,
        }
        print(json.dumps(result), flush=True)
        os._exit(0)  # the Kafka input tails forever: leave the runtime at once

    flow = Dataflow("emc_peer")
    messages = kop.input(
        "kafka", flow, brokers=[bootstrap], topics=list(LIFECYCLE_TOPICS), batch_size=10_000,
        add_config={"group.id": group_id, "session.timeout.ms": "6000"},
    )  # fmt: skip
    keyed = op.map("decode", messages.oks, decode)
    counted = op.map("count_input", keyed, count_input)
    clock = EventClock(
        ts_getter=lambda item: datetime.fromtimestamp(item[1]["event_time"] / 1000, UTC),
        wait_for_system_duration=timedelta(hours=1),
    )
    windower = TumblingWindower(
        length=timedelta(minutes=1), align_to=datetime(1970, 1, 1, tzinfo=UTC)
    )
    windows = count_window("per_unit_minute", counted, clock, windower, key=lambda item: item[0])
    op.inspect("closed", windows.down, lambda step, item: None)
    seen["first"] = time.time()
    run_main(flow)


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2], int(sys.argv[3]))
