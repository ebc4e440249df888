"""The Faust floor: a Faust agent on the topics themselves, with an empty agent body.

A Faust app consuming the lifecycle topics with its own consumer, in the shape the worker had
before the bulk feed (raw serializers, ``take_events(batch_max_events, within=batch_within_s)``),
whose agent only counts the events of each batch: no decode, no state, no ClickHouse. What
remains is Faust's per-message path (fetch → Message → Event → stream → batch → ack), the cost
any agent on a Kafka topic pays before the pipeline runs; the worker avoids it by feeding its
agent whole batches (streams/feed.py). Run as
``python -m bench.faust_floor BOOTSTRAP GROUP N WEB_PORT DATA_DIR``; prints one JSON
object and exits the process (``os._exit``: a measurement child, nothing to clean up).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import faust

from streams.core.events import LIFECYCLE_TOPICS
from streams.settings import StreamSettings


def main(bootstrap: str, group_id: str, expected: int, web_port: int, data_dir: str) -> None:
    stream_settings = StreamSettings()
    app = faust.App(
        group_id,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        datadir=data_dir,
        web_host="127.0.0.1",
        web_port=web_port,
        web_bind="127.0.0.1",
        broker_session_timeout=6.0,
        broker_heartbeat_interval=0.6,
        producer_max_batch_size=1,
        consumer_auto_offset_reset="earliest",
        key_serializer="raw",
        value_serializer="raw",
        stream_buffer_maxsize=max(4096, stream_settings.batch_max_events * 2),
        broker_commit_interval=1.0,
    )
    source = app.topic(*LIFECYCLE_TOPICS, key_type=bytes, value_type=bytes)
    seen = {"n": 0, "first": 0.0, "batches": 0}

    @app.agent(source, name="faust_floor")
    async def count(stream: Any) -> None:
        async for events in stream.take_events(
            stream_settings.batch_max_events, within=stream_settings.batch_within_s
        ):
            if not seen["first"]:
                seen["first"] = time.time()
                seen["skipped"] = len(events)
            seen["n"] += len(events)
            seen["batches"] += 1
            if seen["n"] >= expected:
                elapsed = time.time() - seen["first"]
                from bench.procs import proc_sample

                sample = proc_sample(os.getpid())
                print(
                    json.dumps(
                        {
                            "messages": seen["n"],
                            "batches": seen["batches"],
                            "elapsed_s": round(elapsed, 3),
                            "events_per_s": round((seen["n"] - seen["skipped"]) / elapsed, 1)
                            if elapsed > 0
                            else None,
                            "cpu_s": sample.cpu_s,
                            "peak_rss_bytes": sample.peak_rss_bytes,
                        }
                    ),
                    flush=True,
                )
                os._exit(0)

    worker = faust.Worker(app, loglevel="warning", quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
