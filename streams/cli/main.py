"""The ``emc`` command group: one entry point, a module per command family.

=============================  ==========================================
``emc worker`` / ``emc run``   :mod:`streams.cli.run`
``emc simulate``               :mod:`streams.cli.simulate`
``emc query`` / ``reconcile``  :mod:`streams.cli.query`
``emc import`` / ``status``    :mod:`streams.cli.health`
``emc token`` / ``emc top``    :mod:`streams.cli.web`
``emc ingest``                 :mod:`streams.cli.ingest`
``emc bench``                  :mod:`streams.cli.bench`
``emc report``                 :mod:`streams.cli.report`
``emc remind``                 :mod:`streams.cli.remind`
=============================  ==========================================
"""

from __future__ import annotations

import click

from streams.cli.bench import bench
from streams.cli.health import import_command, status_command
from streams.cli.ingest import ingest
from streams.cli.query import query, reconcile
from streams.cli.remind import remind
from streams.cli.report import report
from streams.cli.run import run, worker
from streams.cli.simulate import simulate
from streams.cli.web import token, top


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """EMC: live measurement of digital public services from dossier lifecycle events."""


for command in (
    worker,
    run,
    ingest,
    simulate,
    reconcile,
    query,
    import_command,
    status_command,
    token,
    top,
    bench,
    report,
    remind,
):
    main.add_command(command)

if __name__ == "__main__":  # pragma: no cover
    main()
