"""Shared fixtures live in tests/fixtures/, one module per real part (servers, sandbox, app)."""

pytest_plugins = [
    "tests.fixtures.servers",
    "tests.fixtures.sandbox",
    "tests.fixtures.sync",
    "tests.fixtures.app",
]
