"""Shared pytest configuration: the fixture plugins every test directory may use."""

# The session-wide demo run (tests/hack/demo_run.py) is shared by the demo's
# own tests and by the documentation's worked examples; tests.journal.postgres
# starts a real PostgreSQL server for the tests that ask for one.
pytest_plugins = ["tests.kubeapi.pytest_plugin", "tests.hack.demo_run", "tests.journal.postgres"]
