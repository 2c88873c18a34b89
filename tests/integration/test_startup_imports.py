"""What a Shopbridge process imports to start: none of the packages it does not use (imports71).

Every process the API, the workers and the tests start pays for its imports in CPU (~2.5 s for `import gql.app` on
a 2-core host), and a worker booting slowly under load was the cause of issue 13 and flake70. These imports cost
~0.6 s of CPU and serve nothing the process does: Alembic (only `shopbridge migrate` and the demo's upgrade run it;
`/readyz` and the workers' schema gate read the migration files' text: adapters/db/migrate.py), rich and pygments
(structlog's console renderer, httpx's command-line client: adapters/hidden_imports.py, adapters/__init__.py), the
sandbox (the embedded default imports it when it builds the app), cryptography's X.509 (PyJWT's public-key
algorithms; we sign HS256). Each process is a fresh interpreter: what the test process itself imported says nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNUSED = ("alembic", "mako", "rich", "pygments", "httpx._main", "sandbox", "cryptography.x509")


def _loaded_after(code: str, names: tuple[str, ...] = UNUSED) -> list[str]:
    """The packages of `names` loaded (a None in sys.modules is a blocked import, not a loaded one) once `code`
    ran in a fresh interpreter started in the repository."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps([n for n in {names!r} if sys.modules.get(n) is not None]))"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout.splitlines()[-1])
    return loaded


@pytest.mark.parametrize(
    "code",
    [
        # the API: the app module, and where a started app's /readyz places the schema (adapters.readiness)
        "import gql.app\nfrom adapters.db import migrate\nmigrate.head(), migrate.known_revisions()",
        # a worker process: Dramatiq's CLI with the broker module, and the schema gate's check
        "import workers.run, workers.broker, workers.schema_gate\nfrom adapters.db import migrate\nmigrate.head()",
    ],
    ids=["api", "worker"],
)
def test_a_process_imports_no_package_it_does_not_use(code: str) -> None:
    # given a fresh interpreter
    # when it imports what the process needs to start
    loaded = _loaded_after(code)
    # then none of the unused packages came with it
    assert loaded == []


def test_the_worker_command_imports_no_broker_and_no_repository() -> None:
    # given a fresh interpreter, when it imports what `shopbridge worker` runs itself (the command, its database and
    # Redis checks: gql/cli.py cmd_worker) before it starts Dramatiq's processes
    code = (
        "from gql import cli\nimport workers.cli, redis\nfrom adapters.db.engine import Database\n"
        "from adapters.db.key_check import warn_if_key_reads_no_tokens\nfrom adapters.db.outage import describe"
    )
    # then neither Dramatiq (its processes import it) nor the repositories and the domain came with it
    assert _loaded_after(code, ("dramatiq", "adapters.db.uow", "adapters.db.repositories", "alembic", "rich")) == []


def test_the_sandbox_imports_no_command_line_client() -> None:
    # given a fresh interpreter, when it imports the sandbox's server (`python -m sandbox`), then httpx came without
    # its command-line client and what that brings (rich, pygments; click comes with uvicorn all the same)
    assert _loaded_after("import sandbox.cli, sandbox.app", ("httpx._main", "rich", "pygments")) == []
