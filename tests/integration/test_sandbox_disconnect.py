"""A client that hangs up mid-request (Shopbridge cancelling an import) leaves one debug line in the sandbox's log,
never a `ClientDisconnect` traceback (issue 12, item 4). Checked on a real uvicorn server's log records."""

from __future__ import annotations

import logging
import threading

import httpx
import pytest

from tests.fixtures.sandbox import connect


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.debug_line = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        if record.name == "sandbox" and "disconnected" in record.getMessage():
            self.debug_line.set()


@pytest.fixture
def records():
    handler = Records()
    # The root logger sees the sandbox's and Starlette's records; uvicorn's loggers do not propagate to it.
    loggers = [logging.getLogger(name) for name in ("", "uvicorn")]
    for logger in loggers:
        logger.addHandler(handler)
    sandbox_logger = logging.getLogger("sandbox")
    sandbox_level = sandbox_logger.level
    sandbox_logger.setLevel(logging.DEBUG)
    yield handler
    for logger in loggers:
        logger.removeHandler(handler)
    sandbox_logger.setLevel(sandbox_level)


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/order/202309/orders/search", {}),
    ("GET", "/authorization/202309/shops", None),
])  # fmt: skip
def test_a_client_hanging_up_is_one_debug_line(sandbox, records, method: str, path: str, body) -> None:
    caller = connect(sandbox, "us-local")
    sandbox.control("POST", "latency", {"ms": 300})
    with pytest.raises(httpx.ReadTimeout):
        caller.request(method, path, {"page_size": "5"}, body, with_cipher=path.startswith("/order"), timeout=0.05)
    assert records.debug_line.wait(10), "the sandbox never noticed the client leaving"
    loud = [r for r in records.records if r.levelno >= logging.WARNING]
    assert loud == [] and not any(r.exc_info for r in records.records)
    assert sum(1 for r in records.records if r.name == "sandbox") == 1
