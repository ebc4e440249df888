"""The ``emc`` command group: one entry point, every command family registered, one settings
loader that words a bad variable, and ``emc query`` reaching ClickHouse through the sink."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from streams.cli import main

COMMANDS = {
    "worker", "run", "simulate", "query", "reconcile", "import", "status", "token", "top", "bench",
    "report",
    "ingest",
    "remind",
}  # fmt: skip


def emc(args: list[str], data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m streams.cli ARGS`` in a child process (chdb: one data path per process)."""
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "EMC_DATA_DIR": str(data_dir), **env},
    )


def test_every_command_family_is_registered() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    listed = {line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line}
    assert listed == COMMANDS


def test_a_bad_setting_is_named(tmp_path: Path) -> None:
    run = emc(["query", "SELECT 1"], tmp_path, EMC_KAFKA__PARTITIONS="many")
    assert run.returncode == 1
    assert "invalid EMC_* settings" in run.stderr and "partitions" in run.stderr


def test_a_bad_period_bound_is_a_usage_error(tmp_path: Path) -> None:
    run = emc(["reconcile", "--since", "last tuesday"], tmp_path)
    assert run.returncode == 2
    assert "not an ISO-8601 time: 'last tuesday'" in run.stderr


@pytest.mark.integration
def test_query_on_the_embedded_engine_in_each_format(tmp_path: Path) -> None:
    sql = "SELECT number AS n, toString(number * 2) AS twice FROM numbers(3)"
    csv = emc(["query", sql, "--format", "csv"], tmp_path)
    assert csv.returncode == 0, csv.stderr
    assert csv.stdout.splitlines() == ["n,twice", "0,0", "1,2", "2,4"]
    js = emc(["query", sql, "--format", "json"], tmp_path)
    assert js.stdout.splitlines()[2] == '{"n": 2, "twice": "4"}'
    table = emc(["query", sql], tmp_path)
    assert table.stdout.splitlines()[:2] == ["n  twice", "-  -----"]
    bad = emc(["query", "SELECT no_such_column"], tmp_path)
    assert bad.returncode == 1 and "no_such_column" in bad.stderr
