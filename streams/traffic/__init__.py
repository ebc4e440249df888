"""Simulated TTHC systems: realistic dossier lifecycles for the registry's units."""
