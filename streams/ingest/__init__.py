"""HTTP ingest: EMC's tracking call ``POST /TrackingMCDT`` turned into lifecycle events.

Modules: :mod:`.tracking` (a call's fields → one lifecycle event, validated, with its derived
``event_id``), :mod:`.sites` (SiteId → unit_code, ``config/sites.csv``), :mod:`.app` (the aiohttp
application: credentials, JSON and form bodies, the batch form, produce then answer),
:mod:`.service` (``emc ingest``: the process) and :mod:`.errors`.

Imports the core, the Kafka room (producing), ``streams.web.auth`` (the unit tokens) and the
settings; nothing imports it but the CLI and the bench.
"""
