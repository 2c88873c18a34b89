"""Throwaway servers and shared plumbing for the benchmarks: the sandbox as a child process, databases, a shop.

with Harness(keep=False) as h:             # every child process and temp dir is cleaned up on exit
    sandbox = h.sandbox(products=..., orders=...)   # `shopbridge sandbox` in its own process
    url = h.fresh_database("sqlite" | "postgres")   # a migrated, empty database (async URL)
    settings = h.settings(url, sandbox, rate_limit=...)
log("...")                                  # a progress line on stderr, with the elapsed time
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from cryptography.fernet import Fernet

from adapters.config import Settings, load_settings
from adapters.db import migrate

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
SECRET_KEY = "bench-secret-key-" + "x" * 32
STARTED = time.monotonic()
SELLER = "us-local"  # a local US seller with one shop


def log(message: str) -> None:
    """A progress line: elapsed seconds since start, then the message."""
    print(f"[{time.monotonic() - STARTED:7.1f}s] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, process: subprocess.Popen[bytes] | None = None, timeout: float = 60.0) -> None:
    """Poll `url` until it answers 2xx; fail early if `process` died."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2) as client:
        while True:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"process {process.args!r} exited with {process.returncode} before {url} answered")
            with contextlib.suppress(httpx.HTTPError):
                if client.get(url).is_success:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer within {timeout:.0f}s")
            time.sleep(0.1)


class SandboxProcess:
    """`shopbridge sandbox` in a child process on a free port of 127.0.0.1: its URL and the control surface."""

    APP_KEY = "bench-app-key"
    APP_SECRET = "bench-app-secret"
    SERVICE_ID = "7000000000000000001"

    def __init__(self, url: str, process: subprocess.Popen[bytes] | None = None) -> None:
        self.process = process
        self.url = url
        self.http = httpx.Client(timeout=120)  # its keep-alive socket stays open until `close()`

    def close(self) -> None:
        """Close the control client's connections (the process is the harness's to stop: `Harness.forget`)."""
        self.http.close()

    def control(self, method: str, path: str, json: Any = None) -> Any:
        response = self.http.request(method, f"{self.url}/_sandbox/{path.lstrip('/')}", json=json)
        response.raise_for_status()
        return response.json()

    def configure(self, *, latency_ms: int = 0, rate_limit: float | None = None) -> None:
        """Latency per request and the requests/s limit (None: unlimited); counters back to zero."""
        self.control("POST", "/latency", {"ms": latency_ms})
        self.control("POST", "/rate-limit", {"per_second": rate_limit})
        self.control("POST", "/counters/reset")

    def reseed(self, products: int, orders: int, seed: int = 1) -> None:
        """Fresh data (relative to now) and an empty render cache; tokens are kept."""
        self.control("POST", "/reseed", {"products": products, "orders": orders, "seed": seed})

    def shop(self, seller: str = SELLER) -> dict[str, Any]:
        """The seller's first shop as TikTok lists it (`id`, `cipher`, ...)."""
        sellers = self.control("GET", "/shops")["sellers"]
        return next(s for s in sellers if s["key"] == seller)["shops"][0]

    def warm(self, seller: str = SELLER) -> None:
        """Generate the shop's data now (a control read), so no measured request pays for it."""
        self.control("GET", f"/shops/{self.shop(seller)['id']}/products")

    def warm_orders(self, seller: str = SELLER) -> int:
        """Render every order of the shop now (a control read of them all; the sandbox keeps an order once rendered):
        what a comparison's first side would otherwise pay for the second, on the same two cores. Returns how many."""
        response = self.http.get(f"{self.url}/_sandbox/shops/{self.shop(seller)['id']}/orders")
        response.raise_for_status()
        return int(response.json()["total_count"])

    def authorize(self, seller: str = SELLER) -> dict[str, str]:
        """Answer the consent form as `seller`; the redirect's query (`code`, `state`)."""
        form = {"service_id": self.SERVICE_ID, "seller": seller, "decision": "approve", "state": "bench"}
        response = self.http.post(f"{self.url}/oauth/authorize", data=form, follow_redirects=False)
        assert response.status_code == 302, response.text
        return dict(parse_qsl(urlsplit(response.headers["location"]).query))

    def access_token(self, seller: str = SELLER) -> str:
        params = {
            "app_key": self.APP_KEY,
            "app_secret": self.APP_SECRET,
            "auth_code": self.authorize(seller)["code"],
            "grant_type": "authorized_code",
        }
        body = self.http.get(f"{self.url}/api/v2/token/get", params=params).json()
        assert body["code"] == 0, body
        return str(body["data"]["access_token"])

    def counters(self) -> dict[str, Any]:
        return dict(self.control("GET", "/counters"))


class Harness:
    """Owns the child processes (sandbox, API servers), the PostgreSQL cluster and temp dirs of one bench run."""

    def __init__(
        self,
        *,
        keep: bool = False,
        postgres: Any = None,
        postgres_template: str | None = None,
        sqlite_template: Path | None = None,
    ) -> None:
        """`postgres`: a running `tests.fixtures.servers.PostgresServer` to make the databases on instead of a cluster
        of the run's own (the suite's; left running at close), with `postgres_template`, a migrated database of it to
        copy (else one is migrated and dropped at close); `sqlite_template`: a migrated SQLite file to copy (else one
        is migrated in the temp dir)."""
        self.keep = keep
        self.directory = Path(tempfile.mkdtemp(prefix="shopbridge-bench-"))
        self._processes: list[subprocess.Popen[bytes]] = []
        self._sandboxes: list[SandboxProcess] = []  # their control clients, closed with their process
        self._postgres: Any = postgres  # tests.fixtures.servers.PostgresServer, started on first use unless given
        self._owns_postgres = postgres is None
        self._sqlite_template: Path | None = sqlite_template
        self._postgres_template: str | None = postgres_template
        self._owns_postgres_template = postgres_template is None
        self.encryption_key = Fernet.generate_key().decode()

    def __enter__(self) -> Harness:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        for sandbox in self._sandboxes:
            sandbox.close()
        self._sandboxes.clear()
        for process in reversed(self._processes):
            stop_process(process)
        self._processes.clear()
        if self._postgres is not None and self._owns_postgres:
            with contextlib.suppress(Exception):
                self._postgres.stop()
        elif self._postgres is not None and self._postgres_template is not None and self._owns_postgres_template:
            self._postgres.drop_database(self._postgres_template)  # the borrowed server's copy of our template
        self._postgres = None
        if not self.keep:
            shutil.rmtree(self.directory, ignore_errors=True)

    # -- child processes -------------------------------------------------------------------------------------------

    def spawn(self, args: list[str], env: dict[str, str] | None = None, name: str = "child") -> subprocess.Popen[bytes]:
        """Start a child process (its output in a log file of the temp dir); stopped at close."""
        output = (self.directory / f"{name}-{len(self._processes)}.log").open("wb")
        process = subprocess.Popen(
            args, env={**os.environ, **(env or {})}, stdout=output, stderr=subprocess.STDOUT, cwd=ROOT
        )
        output.close()
        self._processes.append(process)
        return process

    def forget(self, process: subprocess.Popen[bytes]) -> None:
        """Stop a child now; a sandbox's (`sandbox()`) control client is closed with it."""
        for sandbox in [s for s in self._sandboxes if s.process is process]:
            sandbox.close()
            self._sandboxes.remove(sandbox)
        stop_process(process)
        with contextlib.suppress(ValueError):
            self._processes.remove(process)

    def sandbox(self, products: int, orders: int, seed: int = 1, extra_args: list[str] | None = None) -> SandboxProcess:
        """`shopbridge sandbox` on a free port with this data (rate limit and latency off); `extra_args` add flags."""
        port = free_port()
        args = [
            str(VENV_BIN / "shopbridge"), "sandbox", "--host", "127.0.0.1", "--port", str(port),
            "--app-key", SandboxProcess.APP_KEY, "--app-secret", SandboxProcess.APP_SECRET,
            "--service-id", SandboxProcess.SERVICE_ID, "--products", str(products), "--orders", str(orders),
            "--seed", str(seed), "--rate-limit", "0", "--latency-ms", "0", "--log-level", "warning",
            *(extra_args or []),
        ]  # fmt: skip
        process = self.spawn(args, name="sandbox")
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/_sandbox/", process)
        sandbox = SandboxProcess(url, process)
        self._sandboxes.append(sandbox)  # its client closed by `forget(sandbox.process)` or `close()`
        return sandbox

    def redis(self) -> str:
        """A throwaway `redis-server` (no persistence) on a free port, stopped at close: its URL."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("Redis is not installed: no `redis-server` on PATH (apt-get install redis-server)")
        port = free_port()
        directory = self.directory / f"redis-{port}"
        directory.mkdir()
        args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(directory)]  # fmt: skip
        process = self.spawn(args, name="redis")
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(64).startswith(b"+PONG"):
                    return f"redis://127.0.0.1:{port}/0"
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {port}")
            time.sleep(0.05)

    # -- databases -------------------------------------------------------------------------------------------------

    def fresh_database(self, kind: str) -> str:
        """A migrated empty database: a copy of a template migrated once per run."""
        if kind == "sqlite":
            if self._sqlite_template is None:
                self._sqlite_template = self.directory / "template.db"
                migrate.upgrade(f"sqlite+aiosqlite:///{self._sqlite_template}")
            path = self.directory / f"bench-{uuid.uuid4().hex[:8]}.db"
            shutil.copyfile(self._sqlite_template, path)
            return f"sqlite+aiosqlite:///{path}"
        if kind == "postgres":
            server = self.postgres()
            if self._postgres_template is None:
                self._postgres_template = f"bench_template_{uuid.uuid4().hex[:8]}"  # unique on a borrowed server
                migrate.upgrade(server.create_database(self._postgres_template))
            return str(server.create_database(f"bench_{uuid.uuid4().hex[:8]}", template=self._postgres_template))
        raise ValueError(f"unknown database kind {kind!r}")

    def drop_database(self, url: str) -> None:
        """Free a database's space once a benchmark is done with it."""
        if url.startswith("sqlite"):
            path = Path(url.split("///", 1)[1])
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        elif self._postgres is not None:
            self._postgres.drop_database(url.rsplit("/", 1)[1])

    def postgres(self) -> Any:
        """The run's PostgreSQL cluster (tests.fixtures.servers.PostgresServer), started on first use."""
        if self._postgres is None:
            from tests.fixtures.servers import PostgresServer

            # Its own temp dir: the run's is private to root, and PostgreSQL runs as `postgres` (stop() removes it).
            directory = Path(tempfile.mkdtemp(prefix="shopbridge-bench-pg-"))
            as_user: list[str] = []
            account = None
            if os.geteuid() == 0:  # PostgreSQL refuses root: run it as the `postgres` user, owner of its dir
                account = pwd.getpwnam("postgres")
                os.chown(directory, account.pw_uid, account.pw_gid)
                as_user = ["runuser", "-u", "postgres", "--"]
            server = PostgresServer(
                port=free_port(), directory=directory, bin_dir=postgres_bin_dir(), as_user=as_user, account=account
            )
            log("starting PostgreSQL")
            server.start()
            self._postgres = server
        return self._postgres

    # -- settings --------------------------------------------------------------------------------------------------

    def env(self, database_url: str, sandbox_url: str, *, rate_limit: float = 50.0) -> dict[str, str]:
        """The SHOPBRIDGE_* environment of a worker or API process talking to `sandbox_url` and `database_url`."""
        return {
            "SHOPBRIDGE_DATABASE_URL": database_url,
            "SHOPBRIDGE_DATA_DIR": str(self.directory / "data"),
            "SHOPBRIDGE_SECRET_KEY": SECRET_KEY,
            "SHOPBRIDGE_ENCRYPTION_KEY": self.encryption_key,
            "SHOPBRIDGE_TIKTOK_APP_KEY": SandboxProcess.APP_KEY,
            "SHOPBRIDGE_TIKTOK_APP_SECRET": SandboxProcess.APP_SECRET,
            "SHOPBRIDGE_TIKTOK_SERVICE_ID": SandboxProcess.SERVICE_ID,
            "SHOPBRIDGE_TIKTOK_API_URL": sandbox_url,
            "SHOPBRIDGE_TIKTOK_AUTH_URL": sandbox_url,
            "SHOPBRIDGE_TIKTOK_AUTHORIZE_URL": sandbox_url + "/oauth/authorize",
            "SHOPBRIDGE_TIKTOK_RATE_LIMIT": str(rate_limit),
            "SHOPBRIDGE_LOG_LEVEL": "WARNING",
            # The benchmarks load the API from one merchant as fast as it answers: the cap (600 a minute by
            # default) would be measured instead of the API.
            "SHOPBRIDGE_MAX_REQUESTS_PER_MINUTE_PER_MERCHANT": "0",
        }

    def settings(self, database_url: str, sandbox_url: str, *, rate_limit: float = 50.0) -> Settings:
        return load_settings(self.env(database_url, sandbox_url, rate_limit=rate_limit))


class CpuMeter:
    """CPU seconds (user + system, all threads) spent by this process and the sandbox since it was made, and with
    `database` (a `tests.fixtures.servers.PostgresServer`) by that PostgreSQL cluster too (`database_cpu_s`,
    `cluster_cpu_seconds`: on SQLite the database's work runs in this process, in `worker_cpu_s`)."""

    def __init__(self, sandbox: SandboxProcess, database: Any = None) -> None:
        self.sandbox_pid = sandbox.process.pid if sandbox.process is not None else None
        self.database = database
        self._start = self._now()

    def _now(self) -> tuple[float, float, float]:
        sandbox = process_cpu_seconds(self.sandbox_pid) if self.sandbox_pid else 0.0
        database = cluster_cpu_seconds(self.database.data_dir) if self.database is not None else 0.0
        return time.process_time(), sandbox, database

    def read(self) -> dict[str, float]:
        own, sandbox, database = self._now()
        figures = {"worker_cpu_s": round(own - self._start[0], 2), "sandbox_cpu_s": round(sandbox - self._start[1], 2)}
        if self.database is not None:
            figures["database_cpu_s"] = round(database - self._start[2], 2)
        return figures


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cluster_cpu_seconds(data_dir: Path) -> float:
    """User + system CPU seconds of the PostgreSQL cluster whose data directory is `data_dir`: its postmaster (pid from
    `postmaster.pid`), every live child (backends, autovacuum, the WAL writer, ...) and the children that have ended
    (a backend whose client disconnected: the kernel adds a reaped child's time to its parent's `cutime`/`cstime`,
    and the postmaster reaps its children). A cluster shared with other clients counts their work too."""
    postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
    ticks = os.sysconf("SC_CLK_TCK")
    own = Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()
    total = sum(int(field) for field in own[11:15]) / ticks  # utime, stime, cutime, cstime
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile: its time is in the postmaster's cutime/cstime once reaped
            continue
        if int(fields[1]) == postmaster:
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def postgres_bin_dir() -> Path:
    initdb = shutil.which("initdb")
    if initdb:
        return Path(os.path.realpath(initdb)).parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[4]))
    if not candidates:
        raise RuntimeError("PostgreSQL is not installed (no initdb): install it or run with --db sqlite")
    return candidates[-1].parent


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM (SIGINT for uvicorn's graceful path), then SIGKILL if it lingers; reaps it."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
