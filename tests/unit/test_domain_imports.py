"""The domain imports only the standard library, `regex` and `tenacity` (README, Architecture; STYLE.md).

import-linter's contract for domain/ is a `forbidden` list: it names the frameworks it keeps out, so a package it
does not name (`import prometheus_client`) passed it as KEPT (try-out newcomer52, defect 4). This test is the
allow-list: every `import` and `from ... import` of every module under domain/, at any depth (functions,
`if TYPE_CHECKING:` blocks included), names a standard library module, `regex`, `tenacity` or domain itself.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import domain

ALLOWED_PACKAGES = frozenset({"regex", "tenacity", "domain"})
DOMAIN_DIR = Path(domain.__file__).parent


def imported_top_levels(source: str) -> list[tuple[int, str]]:
    """(line, top-level package) of each absolute import in `source`; relative imports stay inside domain/."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.partition(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
            found.append((node.lineno, node.module.partition(".")[0]))
    return found


def outside_imports(root: Path) -> list[str]:
    """`path:line: package` for each import under `root` of neither the standard library nor an allowed package."""
    return [
        f"{path.relative_to(root.parent)}:{line}: {package}"
        for path in sorted(root.rglob("*.py"))
        for line, package in imported_top_levels(path.read_text(encoding="utf-8"))
        if package not in sys.stdlib_module_names and package not in ALLOWED_PACKAGES
    ]


def test_the_domain_imports_only_the_standard_library_regex_and_tenacity() -> None:
    # given every module of the domain package; when its imports are read; then none is of another package
    assert outside_imports(DOMAIN_DIR) == []


def test_an_import_of_another_package_is_found_wherever_it_is(tmp_path: Path) -> None:
    # given a package importing a third-party module in a function, in a TYPE_CHECKING block and with `from`
    (tmp_path / "domain").mkdir()
    (tmp_path / "domain" / "clock.py").write_text(
        "from __future__ import annotations\nimport datetime\nimport regex\nfrom typing import TYPE_CHECKING\n"
        "from . import text\nfrom domain.errors import ErrorCode\n"
        "if TYPE_CHECKING:\n    import sqlalchemy.orm\n"
        "def f():\n    from prometheus_client import Counter\n"
    )
    # then each is reported with its line; the standard library, regex and domain's own imports are not
    assert outside_imports(tmp_path / "domain") == [
        "domain/clock.py:8: sqlalchemy",
        "domain/clock.py:10: prometheus_client",
    ]
