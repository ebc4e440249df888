"""Errors raised by connection health, imports and the status report.

HealthError (streams.core.errors.EmcError)
├── ImportValidationError   a spreadsheet has bad rows; nothing was imported
└── StoreBusyError          the embedded ClickHouse is held by a running worker that cannot be asked
"""

from __future__ import annotations

from dataclasses import dataclass

from streams.core.errors import EmcError


class HealthError(EmcError):
    """Connection health could not be evaluated, imported or reported."""


@dataclass(frozen=True, slots=True)
class RowProblem:
    """One bad cell: spreadsheet row (header = row 1), column header, and why."""

    row: int
    column: str
    why: str

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column}: {self.why}"


class ImportValidationError(HealthError):
    """The file was rejected as a whole; ``problems`` lists every bad row."""

    def __init__(self, file_name: str, problems: list[RowProblem]) -> None:
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{file_name}: {len(problems)} problem(s), nothing imported:\n{lines}")
        self.problems = problems


class StoreBusyError(HealthError):
    """The embedded engine is locked by another process (a running worker)."""
