"""`emc top` in a real terminal (a pty) against a real worker: shows the live numbers."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time

import pytest

from streams.core.events import EventType
from streams.kafka.produce import EventProducer
from tests.integration.fixtures import EMC, TEST_NATIONAL_TOKEN
from tests.web.helpers import HA_NOI, TOKENS_ENV, receipt

pytestmark = pytest.mark.integration

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


def _send(bootstrap: str, prefix: str, unit: str, n: int, online: int) -> None:
    now = int(time.time() * 1000)
    producer = EventProducer(bootstrap, encoding="json")
    for i in range(n):
        producer.send(
            EventType.RECEIVED, receipt(f"{prefix}{i}", unit, now - 2000 - i, online=i < online)
        )
    producer.close()


COLUMNS = ("kind", "last", "rcv_1m", "rcv_60m", "rcv_24h", "online_60m", "online_24h")


def _row(screen: str, code: str) -> dict[str, str] | None:
    """The cells of the last table line showing ``code``, by column."""
    lines = [line for line in screen.splitlines() if f"({code})" in line]
    if not lines:
        return None
    cells = [c.strip() for c in lines[-1].split("│")]
    at = next(i for i, c in enumerate(cells) if f"({code})" in c)
    return dict(zip(COLUMNS, cells[at + 1 :], strict=False))


def test_emc_top_shows_live_numbers(broker_factory, worker_factory) -> None:
    broker = broker_factory()
    worker = worker_factory(broker, EMC_WEB__TOKENS=f"national={TEST_NATIONAL_TOKEN},{TOKENS_ENV}")
    _send(broker.bootstrap_servers, "a", "HA_NOI", 4, online=3)
    worker.wait_consumed(4)

    env = {**worker.env, "EMC_TOKEN": HA_NOI, "COLUMNS": "160", "LINES": "30", "TERM": "xterm"}
    main, child = pty.openpty()
    proc = subprocess.Popen(
        [
            *EMC,
            "top",
            "--url",
            f"http://127.0.0.1:{worker.web_port}",
            "--lang",
            "en",
            "--interval",
            "0.5",
            "--iterations",
            "200",
        ],
        env=env,
        stdin=child,
        stdout=child,
        stderr=child,
        close_fds=True,
    )
    os.close(child)
    screen = b""

    def wait_for(code: str, want: dict[str, str], timeout_s: float = 60.0) -> dict[str, str]:
        """Read the terminal until ``code``'s row shows ``want``; return the row as last seen."""
        nonlocal screen
        deadline = time.monotonic() + timeout_s
        cells: dict[str, str] = {}
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 0.5)
            if ready:
                try:
                    screen += os.read(main, 65536)
                except OSError:
                    break
            cells = _row(ANSI.sub(b"", screen).decode(errors="replace"), code) or {}
            if cells and all(cells.get(k) == v for k, v in want.items()):
                break
        return cells

    try:
        cells = wait_for("HA_NOI", {"rcv_60m": "4"})
        assert cells, ANSI.sub(b"", screen).decode(errors="replace")[-3000:]
        assert cells["kind"] == "Province"
        assert (cells["rcv_60m"], cells["rcv_24h"], cells["online_60m"]) == ("4", "4", "75.0%")
        # new events show up in the same running `emc top`, refreshed in place
        _send(broker.bootstrap_servers, "b", "HA_NOI", 4, online=0)
        cells = wait_for("HA_NOI", {"rcv_60m": "8"})
        assert (cells["rcv_60m"], cells["rcv_24h"], cells["online_60m"]) == ("8", "8", "37.5%")
        # a unit token sees only its unit
        text = ANSI.sub(b"", screen).decode(errors="replace")
        assert "(DA_NANG)" not in text and "(HO_CHI_MINH)" not in text
    finally:
        proc.terminate()
        proc.wait(10)
        os.close(main)
