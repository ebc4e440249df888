"""EMC streams: Faust agents that turn dossier lifecycle events into per-unit indicators."""
