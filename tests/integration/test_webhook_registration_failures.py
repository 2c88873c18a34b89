"""A new shop's webhook registration whose attempts fail ends its imports' wait at once, on real parts: the embedded
worker pool, a real database, the TikTok client over HTTP.

Found in review (regwait53): only a `GatewayError` was recorded on the shop; any other exception left the shop's first
registration looking unfinished, and its imports waited the full `REGISTRATION_WAIT_LONGEST` (30 s) while Dramatiq
retried the registration. Here TikTok's API host answers every call with a body its `Content-Encoding: gzip` header
does not describe (a proxy's fault): httpx raises `DecodingError`, which the client has turned into its
`MalformedResponseError` since clientreview53 (retried within the call, then the registration's failure); the path
of an exception not TikTok's (a bug of ours) is `tests/unit/test_webhook_registration_services.py`'s, with the real
service.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from domain.services.sync import queue_authorization_sync
from domain.sync import SyncTask
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.sync import SyncHarness, connect_shop, sync_settings
from tests.fixtures.waiting import until
from workers.actors import REGISTRATION_WAIT_LONGEST


class _NotGzip(BaseHTTPRequestHandler):
    """200 with `Content-Encoding: gzip` over a body that is not gzip, whatever the request."""

    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        body = b"this is not gzip"
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-encoding", "gzip")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:  # quiet: the test reads the database, not this log
        pass


@pytest.fixture
def not_gzip_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotGzip)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="not-gzip", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_a_registration_whose_answers_do_not_decode_ends_the_imports_wait_at_once(
    sqlite_url: str, sandbox: SandboxServer, tmp_path: Path, not_gzip_url: str,
    sync_harness_factory: Callable[..., SyncHarness],
) -> None:  # fmt: skip
    # given a shop connected through the sandbox, and a worker whose TikTok API host answers in broken gzip
    settings = sync_settings(sqlite_url, sandbox, tmp_path)
    connecting = sync_harness_factory(settings)
    shop = await connect_shop(connecting.uow_factory, connecting.tiktok, sandbox)
    harness = sync_harness_factory(settings.with_overrides(tiktok=replace(settings.tiktok, api_url=not_gzip_url)))
    queue = harness.start_worker()

    # when its connection queues its two imports and its webhook registration, as `complete_authorization` does
    async with harness.uow_factory() as uow:
        tasks = await queue_authorization_sync(
            uow, queue, shop, harness.clock.now(), events=harness.events, after_webhook_registration=True
        )
        await uow.commit()
    await queue.enqueue_webhook_registration(shop.id)

    # then both imports begin right after its failed attempt, not once the longest wait has passed
    async def begun() -> list[SyncTask] | None:
        found = [t for task in tasks if (t := await harness.task(task.id)) is not None and t.started_at is not None]
        return found if len(found) == len(tasks) else None

    for task in await until(begun, "both imports begun"):
        assert task.started_at is not None and task.started_at - task.created_at < REGISTRATION_WAIT_LONGEST, task

    # and the failure is on the shop, by its kind (its text in the worker's log)
    async def recorded() -> str | None:
        async with harness.uow_factory() as uow:
            stored = await uow.shops.get(shop.id)
        return stored.webhook_registration_error if stored is not None else None

    assert "did not decode by its Content-Encoding" in (await recorded() or "")
