"""Shared pytest configuration: the fixture plugins every test directory may use."""

pytest_plugins = ["tests.kubeapi.pytest_plugin", "tests.journal.postgres"]
