"""The process's TikTok client (`adapters.tiktok.factory`) as TikTok's servers see it over real HTTP (loopback): the
User-Agent it names itself by, and how many connections its pool keeps open between bursts of requests."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from adapters.config import Settings, load_settings
from adapters.tiktok.factory import build_tiktok_client

DEADLINE_SECONDS = 30.0  # for every held request to arrive; a barrier that breaks fails the request, then the test
TOKENS = {
    "access_token": "TTP_access",
    "access_token_expire_in": 1_900_000_000,
    "refresh_token": "TTP_refresh",
    "refresh_token_expire_in": 1_950_000_000,
}


class TokenServer(ThreadingHTTPServer):
    """Answers TikTok's token endpoints with a fixed pair; records each request's User-Agent and connection, and
    may hold the next `hold.parties` requests until all of them are in at once (a `threading.Barrier`)."""

    daemon_threads = True
    request_queue_size = 256

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.user_agents: list[str | None] = []
        self.connections: set[tuple[str, int]] = set()
        self.hold: threading.Barrier | None = None
        self.to_hold = 0
        self.on_arrival: Callable[[], object] = lambda: None
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a connection serves request after request
    server: TokenServer

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.user_agents.append(self.headers.get("user-agent"))
            self.server.connections.add(self.client_address)
            held, self.server.to_hold = self.server.to_hold > 0, max(0, self.server.to_hold - 1)
        self.server.on_arrival()
        if held and self.server.hold is not None:
            self.server.hold.wait()
        body = json.dumps({"code": 0, "message": "success", "request_id": "RID", "data": TOKENS}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[TokenServer]:
    server = TokenServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        if server.hold is not None:
            server.hold.abort()
        server.shutdown()
        server.server_close()
        thread.join(timeout=DEADLINE_SECONDS)


def settings_for(server: TokenServer, tmp_path: Path) -> Settings:
    env = {
        "SHOPBRIDGE_DATA_DIR": str(tmp_path),
        "SHOPBRIDGE_TIKTOK_APP_KEY": "appkey",
        "SHOPBRIDGE_TIKTOK_APP_SECRET": "s3cr3t-app-secret",
        "SHOPBRIDGE_TIKTOK_SERVICE_ID": "7000000000000000001",
        "SHOPBRIDGE_TIKTOK_API_URL": server.url,
        "SHOPBRIDGE_TIKTOK_AUTH_URL": server.url,
        "SHOPBRIDGE_TIKTOK_AUTHORIZE_URL": server.url + "/oauth/authorize",
    }
    settings = load_settings(env)
    return settings.with_overrides(tiktok=replace(settings.tiktok, timeout_seconds=DEADLINE_SECONDS, max_retries=0))


async def test_every_request_names_the_process_in_its_user_agent(server: TokenServer, tmp_path: Path) -> None:
    client, closers = build_tiktok_client(settings_for(server, tmp_path), "shopbridge-worker/0.1")
    try:
        tokens = await client.refresh("TTP_refresh_old")
    finally:
        for close in closers:
            await close()
    assert tokens.access_token == "TTP_access"
    assert server.user_agents == ["shopbridge-worker/0.1"]


async def test_the_pool_keeps_50_connections_open_between_bursts(server: TokenServer, tmp_path: Path) -> None:
    client, closers = build_tiktok_client(settings_for(server, tmp_path), "shopbridge-test/1.0")
    loop = asyncio.get_running_loop()
    arrivals: asyncio.Queue[None] = asyncio.Queue()
    server.on_arrival = lambda: loop.call_soon_threadsafe(arrivals.put_nowait, None)

    async def burst(requests: int) -> None:
        # each request is sent once the one before it is at the server, where all wait until the last is in:
        # every request finds the connections of those before it busy, and takes a free one if the pool kept any
        server.hold, server.to_hold = threading.Barrier(requests, timeout=DEADLINE_SECONDS), requests
        sent = []
        for n in range(requests):
            sent.append(asyncio.create_task(client.refresh(f"TTP_refresh_{n}")))
            await asyncio.wait_for(arrivals.get(), DEADLINE_SECONDS)
        await asyncio.gather(*sent)

    try:
        # when 51 requests are open at once
        await burst(51)
        assert (len(server.user_agents), len(server.connections)) == (51, 51)
        # and 51 more right after
        await burst(51)
        # then 50 connections were kept open from the first burst and reused: one more was opened
        assert (len(server.user_agents), len(server.connections)) == (102, 52)
    finally:
        for close in closers:
            await close()
