"""`emc import catalogue|accounts` with real .xlsx files on the real embedded ClickHouse (chdb).

Each command runs in a child process (chdb: one data path per process), on this test's own
data directory, with the engine not held by a worker (direct writes).
"""

from __future__ import annotations

import os
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from tests.integration.fixtures import EMC, query_json

pytestmark = pytest.mark.integration

CATALOGUE_HEADER = ["Name", "Level", "Url", "ID CDVCQG", "ID MCDT"]
ACCOUNT_HEADER = ["ID_local", "ID_QG", "TYPE", "CREATDATE_USER", "LAST_LOGIN"]


def write_xlsx(
    path: Path, header: list[str], rows: list[list[Any]], title: str | None = None
) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    if title:
        sheet.append([title])
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def emc(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*EMC, *args], env=env, capture_output=True, text=True, timeout=180, check=False
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("EMC_")},
        "EMC_DATA_DIR": str(tmp_path / "data"),
    }


def test_catalogue_import_bad_rows_and_reimport(tmp_path: Path, env: dict[str, str]) -> None:
    good = write_xlsx(
        tmp_path / "catalogue.xlsx",
        CATALOGUE_HEADER,
        [
            [
                "Cấp Giấy chứng nhận huấn luyện kỹ thuật an toàn",
                0,
                None,
                "2.000221.000.00.00.H34",
                "000001",
            ],
            ["Cấp Giấy chứng nhận kiểm dịch thực vật", 3, "", "1.003984.000.00.00.H34", "000002"],
            [
                "Cấp Giấy chứng nhận thẩm định thiết kế xe",
                4,
                "https://dvc.example.vn/3",
                "1.001001.000.00.00.H34",
                "000003",
            ],
        ],
        title="Danh sách dịch vụ công",  # a title row above the header is allowed
    )
    out = emc(env, "import", "catalogue", "HAI_PHONG", str(good))
    assert out.returncode == 0, out.stderr
    assert "imported 3 catalogue rows for HAI_PHONG" in out.stdout and "version 1" in out.stdout

    bad = write_xlsx(
        tmp_path / "bad.xlsx",
        CATALOGUE_HEADER,
        [
            ["Thủ tục A", 4, None, "1.1", "A1"],
            ["", 3, None, "1.2", "A2"],  # row 3: no name
            ["Thủ tục C", 5, None, "1.3", "A3"],  # row 4: level 5 does not exist
            ["Thủ tục D", 4, None, "1.4", "A1"],  # row 5: duplicate ID MCDT
            [None, None, None, None, None],  # blank row: skipped
            ["Thủ tục F", "toàn trình", None, None, None],  # row 7: level and code
        ],
    )
    out = emc(env, "import", "catalogue", "HAI_PHONG", str(bad))
    assert out.returncode == 1
    assert "5 problem(s), nothing imported" in out.stderr
    for line in (
        "row 3, column Name: empty procedure name",
        "row 4, column Level: 5 is not 0, 2, 3 or 4",
        "row 5, column ID MCDT: duplicate code 'A1' (first in row 2)",
        "row 7, column Level: 'toàn trình' is not 0, 2, 3 or 4",
        "row 7, column ID MCDT: empty procedure code",
    ):
        assert line in out.stderr, out.stderr

    second = write_xlsx(
        tmp_path / "catalogue-2.xlsx",
        CATALOGUE_HEADER,
        [["Thủ tục mới", 4, None, "9.9", "000009"], ["Thủ tục hai", 3, None, None, 10]],
    )
    out = emc(env, "import", "catalogue", "HAI_PHONG", str(second))
    assert out.returncode == 0 and "version 2" in out.stdout, out.stderr

    imports = query_json(
        env,
        "SELECT version, file_name, rows FROM emc.catalogue_imports "
        "WHERE unit_code = 'HAI_PHONG' ORDER BY version",
    )
    assert [(r["version"], r["file_name"], r["rows"]) for r in imports] == [
        (1, "catalogue.xlsx", 3),
        (2, "catalogue-2.xlsx", 2),
    ]  # the bad file left no version, not even a partial one
    assert query_json(env, "SELECT count() AS n FROM emc.catalogue_items")[0]["n"] == 5
    in_force = query_json(
        env,
        "SELECT version, row_number, name, level, id_cdvcqg, id_mcdt FROM emc.catalogue_in_force "
        "ORDER BY row_number",
    )
    assert in_force == [
        {"version": 2, "row_number": 2, "name": "Thủ tục mới", "level": 4, "id_cdvcqg": "9.9",
         "id_mcdt": "000009"},
        {"version": 2, "row_number": 3, "name": "Thủ tục hai", "level": 3, "id_cdvcqg": None,
         "id_mcdt": "10"},
    ]  # fmt: skip
    indicators = query_json(env, "SELECT * FROM emc.unit_catalogue_indicators")
    assert len(indicators) == 1
    row = indicators[0]
    assert (row["catalogue_size"], row["online_procedures"], row["fully_online_procedures"]) == (
        2,
        2,
        1,
    )
    assert (row["online_share"], row["fully_online_share"], row["used_online_share"]) == (
        1.0,
        0.5,
        0.0,
    )


def test_account_import(tmp_path: Path, env: dict[str, str]) -> None:
    bad = write_xlsx(
        tmp_path / "accounts-bad.xlsx",
        ACCOUNT_HEADER,
        [
            ["u1", "qg1", 2, datetime(2023, 5, 1, 8, 0), "2023-06-01 09:15:00"],
            ["u2", None, 4, None, None],  # row 3: type 4
            ["u1", None, 1, "hôm qua", None],  # row 4: duplicate id, bad date
            ["u5", None, 3, "01/06/2023", "01/05/2023"],  # row 5: last login before creation
        ],
    )
    out = emc(env, "import", "accounts", "DA_NANG", str(bad))
    assert out.returncode == 1
    for line in (
        "row 3, column TYPE: 4 is not 1, 2 or 3",
        "row 4, column ID_local: duplicate id 'u1' (first in row 2)",
        "row 4, column CREATDATE_USER: 'hôm qua' is not a date/time",
        "row 5, column LAST_LOGIN: before CREATDATE_USER",
    ):
        assert line in out.stderr, out.stderr

    good = write_xlsx(
        tmp_path / "accounts.xlsx",
        ACCOUNT_HEADER,
        [
            ["u1", "qg1", 2, datetime(2023, 5, 1, 8, 0), "2023-06-01 09:15:00"],
            ["u2", None, 3, "15/01/2024", None],
            ["u3", "qg3", "1", None, "2024-01-18T08:30:00+07:00"],
        ],
    )
    out = emc(env, "import", "accounts", "DA_NANG", str(good))
    assert out.returncode == 0 and "imported 3 accounts rows" in out.stdout, out.stderr
    out = emc(env, "import", "accounts", "NOT_A_UNIT", str(good))
    assert out.returncode == 1 and "unknown unit code 'NOT_A_UNIT'" in out.stderr
    rows = query_json(
        env,
        "SELECT id_local, id_qg, type, toString(created_at) AS created, "
        "toString(last_login) AS last FROM emc.accounts_in_force ORDER BY id_local",
    )
    assert rows == [
        {"id_local": "u1", "id_qg": "qg1", "type": 2, "created": "2023-05-01 08:00:00.000",
         "last": "2023-06-01 09:15:00.000"},
        {"id_local": "u2", "id_qg": None, "type": 3, "created": "2024-01-15 00:00:00.000",
         "last": None},
        {"id_local": "u3", "id_qg": "qg3", "type": 1, "created": None,
         "last": "2024-01-18 08:30:00.000"},
    ]  # fmt: skip
