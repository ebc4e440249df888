"""The unit registry: which ministries and provinces may send events, and when.

The registry is reference data (``config/units.csv``), never code: provinces merge and
systems are replaced, so every unit carries a validity period and, when it was merged away,
its successor. The file is UTF-8 CSV with the header
``unit_code,name_vi,kind,valid_from,valid_to,vendor,successor`` (the older header without
``successor`` is still read, every unit then having none):

- ``unit_code``: stable ASCII id, ``^[A-Z][A-Z0-9_]{1,31}$``; it is the Kafka message key
  and the ``unit_code`` field of every event.
- ``name_vi``: the unit's Vietnamese name, with diacritics.
- ``kind``: ``ministry`` (ministries, ministry-level and government agencies) or
  ``province`` (provinces and centrally governed cities).
- ``valid_from`` / ``valid_to``: ISO dates (``YYYY-MM-DD``), both inclusive, judged on the
  Asia/Ho_Chi_Minh local calendar (UTC+7, no DST); an empty ``valid_to`` means open-ended.
- ``vendor``: who built the unit's TTHC system; empty when unknown.
- ``successor``: the code of the unit that continues a merged-away unit from the day after its
  ``valid_to``; empty for a unit that was not merged away. Checked when loaded: the successor
  is registered, is not the unit itself, is valid on the day after ``valid_to`` (so a unit with
  a successor has a ``valid_to``), and following successors never comes back to a unit.

A registry change is a file change: old rows stay (a merged-away unit keeps its row, with its
``valid_to`` and ``successor`` filled in), so the history of every code remains readable.
:meth:`UnitRegistry.reporting_code` and :meth:`UnitRegistry.rollup` say which unit a
predecessor's figures belong to at a given instant.

This module is pure standard library so that any process (agents, producers, reports) can
load it cheaply.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Literal, NoReturn

from streams.core.errors import ConfigError
from streams.core.localtime import MS_PER_DAY, local_date, local_midnight_ms

HEADER: tuple[str, ...] = (
    "unit_code",
    "name_vi",
    "kind",
    "valid_from",
    "valid_to",
    "vendor",
    "successor",
)
"""The header line of ``units.csv``."""
LEGACY_HEADER: tuple[str, ...] = HEADER[:-1]
"""The header before lineage (no ``successor`` column), still accepted."""

UNIT_KINDS: tuple[str, ...] = ("ministry", "province")
CODE_PATTERN = re.compile(r"[A-Z][A-Z0-9_]{1,31}")
_DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")

Validity = Literal["ok", "unknown_unit", "outside_validity"]


def default_units_path() -> Path:
    """``config/units.csv`` at the repository root (located from this file, not the CWD)."""
    return Path(__file__).resolve().parents[2] / "config" / "units.csv"


@dataclass(frozen=True, slots=True)
class Unit:
    """One ministry or province that sends dossier events.

    ``valid_from`` and ``valid_to`` are Asia/Ho_Chi_Minh local calendar dates, both
    inclusive; ``valid_to`` is ``None`` while the unit is still active. ``vendor`` is
    ``None`` when unknown.
    """

    code: str
    name_vi: str
    kind: str
    valid_from: date
    valid_to: date | None
    vendor: str | None
    successor: str | None = None
    """Code of the unit continuing this one after ``valid_to``; ``None`` if not merged away."""

    def is_valid_at(self, ts_ms: int) -> bool:
        """Whether the unit exists at the instant ``ts_ms`` (epoch ms, UTC).

        The instant is converted to its local date in Asia/Ho_Chi_Minh (UTC+7); the unit
        is valid on every local date from ``valid_from`` through ``valid_to`` inclusive.
        """
        day = local_date(ts_ms)
        if day < self.valid_from:
            return False
        return self.valid_to is None or day <= self.valid_to

    @property
    def valid_from_ms(self) -> int:
        """First valid instant: local midnight starting ``valid_from``, epoch ms UTC."""
        return local_midnight_ms(self.valid_from)

    @property
    def valid_until_ms(self) -> int | None:
        """First instant after validity (exclusive end), epoch ms UTC; ``None`` if open."""
        if self.valid_to is None:
            return None
        return local_midnight_ms(self.valid_to) + MS_PER_DAY


class UnitRegistry:
    """An ordered, immutable collection of :class:`Unit`, indexed by code.

    Positions (:meth:`index_of`) follow the file order and are stable for a given file,
    so they can index numpy arrays of per-unit counters.
    """

    __slots__ = ("_by_code", "_codes", "_index", "_predecessors", "_units")

    def __init__(self, units: Iterable[Unit]) -> None:
        """Build a registry from units in order; codes must be unique and successors must pass
        :func:`lineage_problem` (``ValueError`` otherwise)."""
        self._units: tuple[Unit, ...] = tuple(units)
        self._index: dict[str, int] = {}
        for position, unit in enumerate(self._units):
            if unit.code in self._index:
                raise ValueError(f"duplicate unit code {unit.code!r}")
            self._index[unit.code] = position
        self._by_code: dict[str, Unit] = {unit.code: unit for unit in self._units}
        self._codes: tuple[str, ...] = tuple(unit.code for unit in self._units)
        self._predecessors: dict[str, tuple[str, ...]] = {}
        for unit in self._units:
            problem = lineage_problem(unit, self._by_code)
            if problem is not None:
                raise ValueError(f"unit {unit.code!r}: {problem}")
            if unit.successor is not None:
                before = self._predecessors.get(unit.successor, ())
                self._predecessors[unit.successor] = (*before, unit.code)

    @classmethod
    def load(cls, path: Path | None = None) -> UnitRegistry:
        """Read and validate a units CSV (default: :func:`default_units_path`).

        Raises :class:`~streams.core.errors.ConfigError` naming the file, the row (1-based line
        number in the file, the header being row 1, as a spreadsheet shows it), the column
        and the reason, for: a missing file, a wrong header, a wrong number of cells, an
        empty required cell, a bad code pattern, a duplicate code, an unknown kind, a date
        that is not ``YYYY-MM-DD``, ``valid_to`` before ``valid_from``, or a successor that
        fails :func:`lineage_problem` (reported in the row of the unit naming it).
        """
        path = default_units_path() if path is None else Path(path)
        try:
            with path.open(encoding="utf-8-sig", newline="") as handle:
                rows = list(_parse_rows(path, csv.reader(handle)))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read unit registry: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not valid UTF-8: {exc}") from exc
        except csv.Error as exc:
            raise ConfigError(f"{path}: malformed CSV: {exc}") from exc
        by_code = {unit.code: unit for _row, unit in rows}
        for row, unit in rows:
            problem = lineage_problem(unit, by_code)
            if problem is not None:
                _fail(path, row, "successor", problem)
        return cls(unit for _row, unit in rows)

    def __len__(self) -> int:
        return len(self._units)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __iter__(self) -> Iterator[Unit]:
        return iter(self._units)

    def __repr__(self) -> str:
        return f"UnitRegistry({len(self)} units)"

    @property
    def units(self) -> tuple[Unit, ...]:
        """All units, in file order."""
        return self._units

    @property
    def codes(self) -> tuple[str, ...]:
        """All unit codes, in file order."""
        return self._codes

    def get(self, code: str) -> Unit | None:
        """The unit with this code, or ``None``."""
        return self._by_code.get(code)

    def index_of(self, code: str) -> int:
        """Stable 0-based position of ``code`` in file order; ``KeyError`` if unknown."""
        try:
            return self._index[code]
        except KeyError:
            raise KeyError(f"unknown unit code {code!r}") from None

    def validity(self, code: str, ts_ms: int) -> Validity:
        """Classify an event from ``code`` at ``ts_ms`` (epoch ms, UTC).

        ``'ok'`` if the unit exists and is valid on that Asia/Ho_Chi_Minh local date,
        ``'unknown_unit'`` if the code is not registered, ``'outside_validity'`` otherwise.
        """
        unit = self._by_code.get(code)
        if unit is None:
            return "unknown_unit"
        return "ok" if unit.is_valid_at(ts_ms) else "outside_validity"

    def valid_at(self, ts_ms: int) -> tuple[Unit, ...]:
        """Units valid at the instant ``ts_ms`` (epoch ms, UTC), in file order."""
        return tuple(unit for unit in self._units if unit.is_valid_at(ts_ms))

    def predecessors(self, code: str) -> tuple[str, ...]:
        """Codes whose ``successor`` is ``code`` (direct ones only), in file order."""
        return self._predecessors.get(code, ())

    def reporting_code(self, code: str, ts_ms: int) -> str:
        """The unit whose figures ``code``'s belong to at ``ts_ms`` (epoch ms, UTC).

        Successors are followed while the unit has ended before ``ts_ms``'s local date and
        has a successor: a merged-away province reports as the province that continues it;
        any other unit (still valid, not yet valid, ended without successor, unknown) as
        itself. Loading guarantees the chain ends.
        """
        unit = self._by_code.get(code)
        while unit is not None and unit.successor is not None:
            until = unit.valid_until_ms
            if until is None or ts_ms < until:
                break
            unit = self._by_code[unit.successor]
        return code if unit is None else unit.code

    def rollup(self, ts_ms: int) -> dict[str, str]:
        """Every code that reports as another unit at ``ts_ms`` → that unit's code
        (:meth:`reporting_code`); codes reporting as themselves are left out."""
        out: dict[str, str] = {}
        for unit in self._units:
            if unit.successor is not None:
                target = self.reporting_code(unit.code, ts_ms)
                if target != unit.code:
                    out[unit.code] = target
        return out


def lineage_problem(unit: Unit, by_code: Mapping[str, Unit]) -> str | None:
    """Why ``unit``'s successor is not acceptable among ``by_code`` (all units), or ``None``.

    The successor must be registered, differ from the unit, be valid on the local day after
    the unit's ``valid_to`` (which must be set), and the chain of successors from the unit must
    not return to a unit already on it.
    """
    if unit.successor is None:
        return None
    if unit.valid_to is None:
        return f"successor {unit.successor!r} given but valid_to is empty"
    successor = by_code.get(unit.successor)
    if successor is None:
        return f"successor {unit.successor!r} is not in the registry"
    if successor.code == unit.code:
        return "successor is the unit itself"
    day_after = unit.valid_to + timedelta(days=1)
    if not (
        successor.valid_from <= day_after
        and (successor.valid_to is None or day_after <= successor.valid_to)
    ):
        return (
            f"successor {successor.code!r} is not valid on {day_after.isoformat()}, the day "
            f"after valid_to (it is valid {successor.valid_from.isoformat()} to "
            f"{successor.valid_to.isoformat() if successor.valid_to else 'open'})"
        )
    seen = [unit.code]
    current: Unit | None = successor
    while current is not None:
        if current.code in seen:
            return f"successors form a cycle: {' → '.join([*seen, current.code])}"
        seen.append(current.code)
        current = by_code.get(current.successor) if current.successor else None
    return None


def _parse_rows(path: Path, reader: Iterator[list[str]]) -> Iterator[tuple[int, Unit]]:
    """Validate the header and yield (row number, :class:`Unit`) per data row."""
    header = next(reader, None)
    if header is None:
        raise ConfigError(f"{path}: row 1: empty file, expected header {','.join(HEADER)}")
    cleaned = tuple(cell.strip() for cell in header)
    if cleaned not in (HEADER, LEGACY_HEADER):
        raise ConfigError(
            f"{path}: row 1: bad header {','.join(cleaned)!r}, expected {','.join(HEADER)!r} "
            f"(or, without lineage, {','.join(LEGACY_HEADER)!r})"
        )
    columns = cleaned
    first_row_of: dict[str, int] = {}
    row = 1
    for cells in reader:
        row = getattr(reader, "line_num", row + 1)
        if not any(cell.strip() for cell in cells):
            continue  # blank line
        if len(cells) != len(columns):
            raise ConfigError(
                f"{path}: row {row}: expected {len(columns)} columns "
                f"({','.join(columns)}), found {len(cells)}"
            )
        unit = _parse_unit(path, row, dict(zip(columns, (c.strip() for c in cells), strict=True)))
        if unit.code in first_row_of:
            _fail(
                path,
                row,
                "unit_code",
                f"duplicate code {unit.code!r} (first defined in row {first_row_of[unit.code]})",
            )
        first_row_of[unit.code] = row
        yield row, unit


def _parse_unit(path: Path, row: int, cells: dict[str, str]) -> Unit:
    """Turn one row's cells (keyed by column name, stripped) into a :class:`Unit`."""
    code = cells["unit_code"]
    if not CODE_PATTERN.fullmatch(code):
        _fail(path, row, "unit_code", f"{code!r} does not match ^[A-Z][A-Z0-9_]{{1,31}}$")
    name = unicodedata.normalize("NFC", cells["name_vi"])
    if not name:
        _fail(path, row, "name_vi", "empty name")
    kind = cells["kind"]
    if kind not in UNIT_KINDS:
        _fail(path, row, "kind", f"unknown kind {kind!r}, expected one of {UNIT_KINDS}")
    valid_from = _parse_date(path, row, "valid_from", cells["valid_from"])
    if valid_from is None:
        _fail(path, row, "valid_from", "empty date, expected YYYY-MM-DD")
    valid_to = _parse_date(path, row, "valid_to", cells["valid_to"])
    if valid_to is not None and valid_to < valid_from:
        _fail(
            path,
            row,
            "valid_to",
            f"{valid_to.isoformat()} is before valid_from {valid_from.isoformat()}",
        )
    vendor = unicodedata.normalize("NFC", cells["vendor"]) or None
    successor = cells.get("successor") or None
    if successor is not None and not CODE_PATTERN.fullmatch(successor):
        _fail(path, row, "successor", f"{successor!r} does not match ^[A-Z][A-Z0-9_]{{1,31}}$")
    return Unit(code, name, kind, valid_from, valid_to, vendor, successor)


def _parse_date(path: Path, row: int, column: str, text: str) -> date | None:
    """Parse an ISO ``YYYY-MM-DD`` cell; empty means ``None``."""
    if not text:
        return None
    if not _DATE_PATTERN.fullmatch(text):
        _fail(path, row, column, f"bad date {text!r}, expected YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        _fail(path, row, column, f"bad date {text!r}: {exc}")


def _fail(path: Path, row: int, column: str, why: str) -> NoReturn:
    """Raise the registry's ConfigError for one cell."""
    raise ConfigError(f"{path}: row {row}, column {column}: {why}")
