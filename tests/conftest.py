"""Shared pytest configuration: integration fixtures are registered here."""

pytest_plugins = ["tests.integration.fixtures", "tests.health.engine"]
