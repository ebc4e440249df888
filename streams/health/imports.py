"""Reference-data imports from seed 004's Excel templates: service catalogue and accounts.

Both files are read whole and validated before anything is written; a file with any bad row is
rejected with every problem listed (spreadsheet row, column header, why). A valid file becomes a
new *version* for the unit: its items are written first, then one ``*_imports`` row, which is
what makes the version visible (``catalogue_in_force`` / ``accounts_in_force`` show each unit's
latest version). Earlier versions stay, as seed 004's import history.

Templates (header row, any column order, case and surrounding spaces ignored):

- catalogue: ``Name, Level, Url, ID CDVCQG, ID MCDT``. Level 0 = not online, 2 = legacy
  (seed 004's own screenshot lists one; information only, counted as not online), 3 = partly
  online, 4 = fully online; ID MCDT (the unit's own procedure code, = CodeTTHC it sends)
  required and unique; Url and ID CDVCQG may be empty.
- accounts: ``ID_local, ID_QG, TYPE, CREATDATE_USER, LAST_LOGIN``. TYPE 1 = business,
  2 = citizen, 3 = one-stop officer; ID_local required and unique; the two times may be empty,
  are Excel dates or text (``YYYY-MM-DD[ HH:MM[:SS]]``, ``DD/MM/YYYY[ HH:MM[:SS]]``, ISO with
  offset) and, without an offset, are Asia/Ho_Chi_Minh local time.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from sinks.clickhouse import ClickHouseSink
from sinks.health_schema import ACCOUNT_COLUMNS, CATALOGUE_COLUMNS, IMPORT_COLUMNS
from streams.core.events import PROCEDURE_LEVELS
from streams.core.localtime import local_midnight_ms, to_epoch_ms
from streams.health.errors import HealthError, ImportValidationError, RowProblem

ImportKind = Literal["catalogue", "accounts"]

CATALOGUE_HEADERS: tuple[str, ...] = ("Name", "Level", "Url", "ID CDVCQG", "ID MCDT")
ACCOUNT_HEADERS: tuple[str, ...] = ("ID_local", "ID_QG", "TYPE", "CREATDATE_USER", "LAST_LOGIN")
CATALOGUE_LEVELS = PROCEDURE_LEVELS
"""0, 2 (legacy lists, information only: not online), 3, 4."""
ACCOUNT_TYPES = (1, 2, 3)
MAX_HEADER_ROW = 10
"""The header is looked for in the first rows (templates sometimes carry a title above it)."""
_TEXT_TIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y",
)


@dataclass(frozen=True, slots=True)
class CatalogueItem:
    """One procedure of a unit's service catalogue (``row_number``: spreadsheet row)."""

    row_number: int
    name: str
    level: int
    url: str | None
    id_cdvcqg: str | None
    id_mcdt: str


@dataclass(frozen=True, slots=True)
class AccountItem:
    """One account; ``created_at_ms``/``last_login_ms`` are epoch ms (UTC) or ``None``."""

    row_number: int
    id_local: str
    id_qg: str | None
    type: int
    created_at_ms: int | None
    last_login_ms: int | None


@dataclass(frozen=True, slots=True)
class ParsedFile:
    """A validated file: its name, SHA-256 and rows, ready to be written as one version."""

    kind: ImportKind
    file_name: str
    sha256: str
    items: list[CatalogueItem] | list[AccountItem]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "file_name": self.file_name,
            "sha256": self.sha256,
            "items": [asdict(i) for i in self.items],
        }

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> ParsedFile:
        kind = payload["kind"]
        if kind == "catalogue":
            items: list[CatalogueItem] | list[AccountItem] = [
                CatalogueItem(**i) for i in payload["items"]
            ]
        elif kind == "accounts":
            items = [AccountItem(**i) for i in payload["items"]]
        else:
            raise HealthError(f"unknown import kind {kind!r}")
        return cls(kind, str(payload["file_name"]), str(payload["sha256"]), items)


def _norm(header: Any) -> str:
    return re.sub(r"\s+", " ", str(header or "")).strip().lower()


def _text(value: Any) -> str | None:
    """A cell as stripped text (whole numbers without ``.0``); ``None`` when empty."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*\d+\s*", value):
        return int(value)
    return None


def _instant_ms(value: Any) -> int:
    """Epoch ms of a date/time cell; naive values are Asia/Ho_Chi_Minh local time."""
    if isinstance(value, datetime):
        return to_epoch_ms(value)
    if isinstance(value, date):
        return local_midnight_ms(value)
    if isinstance(value, str):
        text = value.strip()
        for fmt in _TEXT_TIME_FORMATS:
            try:
                return _instant_ms(datetime.strptime(text, fmt))
            except ValueError:
                continue
        try:
            return _instant_ms(datetime.fromisoformat(text))
        except ValueError:
            pass
    raise ValueError(f"{value!r} is not a date/time (YYYY-MM-DD HH:MM:SS or DD/MM/YYYY HH:MM:SS)")


def _read_sheet(
    path: Path, headers: tuple[str, ...], progress: Callable[[int], None] | None
) -> tuple[dict[str, int], list[tuple[int, tuple[Any, ...]]]]:
    """Header positions and the non-blank data rows (spreadsheet row number, cells)."""
    try:
        from openpyxl import load_workbook
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise HealthError("reading .xlsx needs openpyxl: pip install openpyxl") from exc
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile/KeyError/InvalidFileException...
        raise ImportValidationError(
            path.name, [RowProblem(0, "-", f"not a readable .xlsx file: {exc}")]
        ) from exc
    try:
        sheet = workbook.worksheets[0]
        wanted = {_norm(h): h for h in headers}
        positions: dict[str, int] = {}
        rows: list[tuple[int, tuple[Any, ...]]] = []
        header_row = 0
        for number, cells in enumerate(sheet.iter_rows(values_only=True), start=1):
            if progress is not None:
                progress(1)
            if not header_row:
                found = {_norm(c): i for i, c in enumerate(cells) if _norm(c) in wanted}
                if len(found) == len(wanted):
                    positions = {wanted[k]: i for k, i in found.items()}
                    header_row = number
                elif number >= MAX_HEADER_ROW:
                    break
                continue
            if any(c is not None and str(c).strip() for c in cells):
                rows.append((number, tuple(cells)))
    finally:
        workbook.close()
    if not header_row:
        raise ImportValidationError(
            path.name,
            [RowProblem(1, "-", f"no header row with the columns {', '.join(headers)}")],
        )
    if not rows:
        raise ImportValidationError(path.name, [RowProblem(header_row + 1, "-", "no data rows")])
    return positions, rows


def _cell(cells: tuple[Any, ...], position: int) -> Any:
    return cells[position] if position < len(cells) else None


def parse_catalogue(path: Path, progress: Callable[[int], None] | None = None) -> ParsedFile:
    """Read and validate a catalogue file; :class:`ImportValidationError` lists every problem."""
    positions, rows = _read_sheet(path, CATALOGUE_HEADERS, progress)
    problems: list[RowProblem] = []
    items: list[CatalogueItem] = []
    first_row: dict[str, int] = {}
    for number, cells in rows:
        name = _text(_cell(cells, positions["Name"]))
        raw_level = _cell(cells, positions["Level"])
        level = _integer(raw_level)
        url = _text(_cell(cells, positions["Url"]))
        id_qg = _text(_cell(cells, positions["ID CDVCQG"]))
        code = _text(_cell(cells, positions["ID MCDT"]))
        bad = len(problems)
        if name is None:
            problems.append(RowProblem(number, "Name", "empty procedure name"))
        if level not in CATALOGUE_LEVELS:
            problems.append(
                RowProblem(
                    number,
                    "Level",
                    f"{raw_level!r} is not 0, 2, 3 or 4 (0 = not online, 2 = legacy, "
                    "not online, 3 = partly online, 4 = fully online)",
                )
            )
        if code is None:
            problems.append(RowProblem(number, "ID MCDT", "empty procedure code"))
        elif code in first_row:
            problems.append(
                RowProblem(
                    number, "ID MCDT", f"duplicate code {code!r} (first in row {first_row[code]})"
                )
            )
        else:
            first_row[code] = number
        if len(problems) == bad and name is not None and code is not None and level is not None:
            items.append(CatalogueItem(number, name, level, url, id_qg, code))
    if problems:
        raise ImportValidationError(path.name, problems)
    return ParsedFile("catalogue", path.name, _sha256(path), items)


def parse_accounts(path: Path, progress: Callable[[int], None] | None = None) -> ParsedFile:
    """Read and validate an accounts file; :class:`ImportValidationError` lists every problem."""
    positions, rows = _read_sheet(path, ACCOUNT_HEADERS, progress)
    problems: list[RowProblem] = []
    items: list[AccountItem] = []
    first_row: dict[str, int] = {}
    for number, cells in rows:
        bad = len(problems)
        id_local = _text(_cell(cells, positions["ID_local"]))
        id_qg = _text(_cell(cells, positions["ID_QG"]))
        raw_type = _cell(cells, positions["TYPE"])
        kind = _integer(raw_type)
        if id_local is None:
            problems.append(RowProblem(number, "ID_local", "empty account id"))
        elif id_local in first_row:
            problems.append(
                RowProblem(
                    number,
                    "ID_local",
                    f"duplicate id {id_local!r} (first in row {first_row[id_local]})",
                )
            )
        else:
            first_row[id_local] = number
        if kind not in ACCOUNT_TYPES:
            problems.append(
                RowProblem(
                    number,
                    "TYPE",
                    f"{raw_type!r} is not 1, 2 or 3 (1 = business, "
                    "2 = citizen, 3 = one-stop officer)",
                )
            )
        times: dict[str, int | None] = {}
        for column in ("CREATDATE_USER", "LAST_LOGIN"):
            raw = _cell(cells, positions[column])
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                times[column] = None
                continue
            try:
                times[column] = _instant_ms(raw)
            except ValueError as exc:
                problems.append(RowProblem(number, column, str(exc)))
        created, last = times.get("CREATDATE_USER"), times.get("LAST_LOGIN")
        if created is not None and last is not None and last < created:
            problems.append(RowProblem(number, "LAST_LOGIN", "before CREATDATE_USER"))
        if len(problems) == bad and id_local is not None and kind is not None:
            items.append(AccountItem(number, id_local, id_qg, kind, created, last))
    if problems:
        raise ImportValidationError(path.name, problems)
    return ParsedFile("accounts", path.name, _sha256(path), items)


def parse_file(
    kind: ImportKind, path: Path, progress: Callable[[int], None] | None = None
) -> ParsedFile:
    """Read and validate ``path`` as a ``kind`` file."""
    return (parse_catalogue if kind == "catalogue" else parse_accounts)(path, progress)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


_TABLES: dict[str, str] = {"catalogue": "catalogue", "accounts": "account"}


def write_version(
    sink: ClickHouseSink, unit_code: str, parsed: ParsedFile, imported_at_ms: int
) -> int:
    """Write ``parsed`` as the unit's next version (items, then the import row); its number.

    The number follows every version ever started (also one whose items were written but whose
    import row was not), so a failed attempt never mixes with the next one.
    """
    prefix = _TABLES[parsed.kind]
    db = sink.database
    version = 1 + int(
        sink.query_rows(
            f"SELECT greatest((SELECT max(version) FROM {db}.{prefix}_imports "
            "WHERE unit_code = {unit:String}), "
            f"(SELECT max(version) FROM {db}.{prefix}_items WHERE unit_code = {{unit:String}}))",
            {"unit": unit_code},
        )[0][0]
        or 0
    )
    n = len(parsed.items)
    if parsed.kind == "catalogue":
        cat = [i for i in parsed.items if isinstance(i, CatalogueItem)]
        columns: list[list[Any]] = [
            [unit_code] * n,
            [version] * n,
            [i.row_number for i in cat],
            [i.name for i in cat],
            [i.level for i in cat],
            [i.url for i in cat],
            [i.id_cdvcqg for i in cat],
            [i.id_mcdt for i in cat],
        ]
        names = CATALOGUE_COLUMNS
    else:
        acc = [i for i in parsed.items if isinstance(i, AccountItem)]
        columns = [
            [unit_code] * n,
            [version] * n,
            [i.row_number for i in acc],
            [i.id_local for i in acc],
            [i.id_qg for i in acc],
            [i.type for i in acc],
            [i.created_at_ms for i in acc],
            [i.last_login_ms for i in acc],
        ]
        names = ACCOUNT_COLUMNS
    sink.insert_columns(f"{prefix}_items", names, columns)
    sink.insert_columns(
        f"{prefix}_imports",
        IMPORT_COLUMNS,
        [[unit_code], [version], [imported_at_ms], [parsed.file_name], [n], [parsed.sha256]],
    )
    return version
