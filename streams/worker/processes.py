"""Several worker processes on one machine: ``emc worker --processes N``.

One Python worker is bound to one core by the GIL. N processes in the same consumer group
(``EMC_KAFKA__GROUP_ID``) share the topics' partitions between them, so a machine with more
cores carries more; give the topics at least N partitions (``EMC_KAFKA__PARTITIONS``).

Each child is ``python -m streams.cli worker`` with its own data directory
(``{data_dir}/worker-<i>``: RocksDB state and Faust's files), its own web port (``port + i``;
port 0 stays 0, a free port each) and the parent's token file, so one token works on every
child. The embedded ClickHouse engine (chdb) allows one process per data path, so N > 1 needs
a ClickHouse server (``EMC_CLICKHOUSE__DSN=http://…``). SIGTERM or SIGINT is passed to every
child, which each finish their batch in hand; a child that exits on its own stops the others,
and the exit code is the first non-zero one (so a supervisor restarts the whole set).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from types import FrameType

from streams.core.errors import ConfigError
from streams.settings import Settings


def child_environments(settings: Settings, processes: int) -> list[dict[str, str]]:
    """The environment of each of ``processes`` children (the parent's, with overrides)."""
    if processes < 1:
        raise ConfigError(f"--processes must be at least 1, not {processes}")
    if processes > 1 and settings.clickhouse_dsn().startswith("chdb://"):
        raise ConfigError(
            "several worker processes need a ClickHouse server: the embedded engine allows one "
            "process per data path (set EMC_CLICKHOUSE__DSN=http://host:8123)"
        )
    data_dir = settings.data_dir.resolve()
    tokens = settings.web.tokens_file or data_dir / "web_tokens.json"
    envs = []
    for i in range(processes):
        port = settings.web.port + i if settings.web.port else 0
        envs.append(
            {
                **os.environ,
                "EMC_DATA_DIR": str(data_dir / f"worker-{i}"),
                "EMC_WEB__PORT": str(port),
                "EMC_WEB__TOKENS_FILE": str(tokens),
            }
        )
    return envs


def run_processes(settings: Settings, processes: int, poll_s: float = 0.5) -> int:
    """Run ``processes`` workers until a signal or a child's exit; returns the exit code."""
    envs = child_environments(settings, processes)
    children = [
        subprocess.Popen([sys.executable, "-m", "streams.cli", "worker"], env=env) for env in envs
    ]
    stopping = False

    def forward(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while all(child.poll() is None for child in children):
            time.sleep(poll_s)
        if not stopping:  # one child ended on its own: stop the rest
            forward(signal.SIGTERM, None)
        codes = [child.wait() for child in children]
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return next((code for code in codes if code), 0)
