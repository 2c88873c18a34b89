"""The e2e tests' rule of databases (tests/e2e/databases.py): an e2e test runs on SQLite and PostgreSQL unless it is
marked `subject_not_the_database(subject)` (or `sqlite_own_behaviour(what)`); any other way of running one on SQLite
only ends the collection, naming the tests that took it, so that none drops PostgreSQL without saying why."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.databases import MARK, SQLITE_MARK

E2E = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse e2e tests parametrized to SQLite only without `subject_not_the_database` (raises pytest.UsageError
    naming them)."""
    silent = [item.nodeid for item in items if _sqlite_only_without_a_subject(item)]
    if silent:
        raise pytest.UsageError(
            "e2e tests run on SQLite only without naming their subject; mark them `subject_not_the_database(subject)`"
            " or `sqlite_own_behaviour(what)` (tests/e2e/databases.py), or let them run on both databases:\n  "
            + "\n  ".join(silent)
        )


def _sqlite_only_without_a_subject(item: pytest.Item) -> bool:
    if _overrides_the_database(item):
        return True
    callspec = getattr(item, "callspec", None)
    if E2E not in Path(item.path).parents or callspec is None or callspec.params.get("database_url") != "sqlite":
        return False
    # `database_url`'s own params are both databases; only an explicit parametrize narrows them
    narrowed = any(_names(mark) and "database_url" in _names(mark) for mark in item.iter_markers("parametrize"))
    return narrowed and item.get_closest_marker(MARK) is None and item.get_closest_marker(SQLITE_MARK) is None


def _overrides_the_database(item: pytest.Item) -> bool:
    """A module or class of e2e tests that defines its own `database_url` fixture (returning SQLite's URL, say) runs
    on that alone with no parametrize to see (rev74a F2): refused like a bare `SQLITE_ONLY`, whatever it returns."""
    if E2E not in Path(item.path).parents or "database_url" not in getattr(item, "fixturenames", ()):
        return False
    scopes = (getattr(item, "module", None), getattr(item, "cls", None))
    return any(scope is not None and "database_url" in vars(scope) for scope in scopes)


def _names(mark: pytest.Mark) -> list[str]:
    names = mark.args[0] if mark.args else mark.kwargs.get("argnames", "")
    return [name.strip() for name in names.split(",")] if isinstance(names, str) else list(names)
