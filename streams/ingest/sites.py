"""SiteId → unit_code: which registry unit a tracking call's ``SiteId`` belongs to.

The tracking call names its sender by ``SiteId`` (an integer EMC assigns each TTHC system),
not by our ``unit_code``. The map is configuration: ``config/sites.csv`` with columns
``site_id,unit_code`` (more than one SiteId may map to one unit: a unit with several systems).
The SiteIds shipped there are placeholders for the tests and the embedded run; an operator
replaces them with EMC's real assignments.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path

from streams.core.errors import ConfigError
from streams.core.registry import UnitRegistry


class SiteMap:
    """SiteId (as text) → unit_code, checked against the unit registry when loaded."""

    def __init__(self, sites: Mapping[str, str]) -> None:
        self._sites = dict(sites)

    @classmethod
    def load(cls, path: Path, registry: UnitRegistry) -> SiteMap:
        """Read ``path``; every unit_code must be in ``registry`` and every SiteId unique."""
        try:
            with path.open(encoding="utf-8", newline="") as handle:
                rows = list(csv.DictReader(handle))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the site map: {exc.strerror}") from exc
        sites: dict[str, str] = {}
        for line, row in enumerate(rows, start=2):
            site = (row.get("site_id") or "").strip()
            unit = (row.get("unit_code") or "").strip()
            if not site or not unit:
                raise ConfigError(f"{path}:{line}: site_id and unit_code are required")
            if unit not in registry:
                raise ConfigError(f"{path}:{line}: unit_code {unit!r} is not in the registry")
            if site in sites:
                raise ConfigError(f"{path}:{line}: site_id {site} appears twice")
            sites[site] = unit
        return cls(sites)

    def unit_of(self, site_id: str) -> str | None:
        """The unit_code of ``site_id``, or ``None`` when the site is not configured."""
        return self._sites.get(site_id)

    def __len__(self) -> int:
        return len(self._sites)
