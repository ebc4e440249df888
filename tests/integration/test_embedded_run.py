"""`emc run` (what `make run` starts) fills the rollups for many units within a minute."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from streams.kafka.broker import free_port

pytestmark = pytest.mark.integration


def test_emc_run_reaches_live_rates_for_many_units(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMC_")}
    env.update({"EMC_DATA_DIR": str(tmp_path), "EMC_WEB__PORT": str(free_port())})
    out = subprocess.run(
        [sys.executable, "-m", "streams.cli", "run", "--duration", "20", "--simulate", "300"],
        env=env,
        capture_output=True,
        timeout=180,
        check=False,
    )
    text = out.stdout.decode()
    assert out.returncode == 0, text + out.stderr.decode()
    assert "live tables (JSON):" in text
    # The live summary shows rates for many units ...
    summaries = re.findall(
        r"last 60 min: ([\d,]+) receipts from (\d+) units; online\s+([\d.]+)%", text
    )
    assert summaries, text
    receipts, units, online = summaries[-1]
    assert int(units) >= 40  # of the 49 units in force today
    assert 25.0 <= float(online) <= 55.0  # the simulator's ~40% online share
    # ... and the final report read back from ClickHouse agrees that the rollups filled up.
    report = dict(
        (m[0], (int(m[1].replace(",", "")), int(m[2]), int(m[3].replace(",", ""))))
        for m in re.findall(r"  (1[mhd]): ([\d,]+) rows, (\d+) units, ([\d,]+) receipts", text)
    )
    assert set(report) == {"1m", "1h", "1d"}
    assert report["1d"][1] >= 40
    # every window size counted the same receipts
    assert report["1m"][2] == report["1h"][2] == report["1d"][2] >= int(receipts.replace(",", ""))
