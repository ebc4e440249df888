"""``python -m streams.cli``: the ``emc`` command without its console script."""

from streams.cli.main import main

main()
