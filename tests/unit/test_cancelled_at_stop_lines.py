"""gql.logfilters.CancelledAtStopLines: uvicorn's ERROR "Exception in ASGI application" for a request the stop
cancelled is one WARNING line naming the request and where it waited; any other CancelledError keeps uvicorn's ERROR
and its traceback (review72b F4)."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from gql.logfilters import ASGI_EXCEPTION, STOP_CANCEL_MESSAGE, CancelledAtStopLines


async def _asgi_app(scope: dict[str, Any], body: Callable[[], Awaitable[None]]) -> None:
    await body()  # an ASGI app's frame: its `scope` names the request


async def _logged_as_uvicorn(body: Callable[[], Awaitable[None]]) -> logging.LogRecord:
    """The record uvicorn's `run_asgi` logs for the exception `body` raises in a request's task, once filtered."""
    scope = {"type": "http", "method": "POST", "path": "/graphql"}
    try:
        await _asgi_app(scope, body)
    except BaseException as error:  # as uvicorn's run_asgi
        record = logging.LogRecord(
            "uvicorn.error", logging.ERROR, __file__, 1, ASGI_EXCEPTION, (), (type(error), error, error.__traceback__)
        )
        CancelledAtStopLines().filter(record)
        return record
    raise AssertionError("the request ended without an exception")


async def _cancelled_shared_future() -> None:
    future = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_soon(future.cancel)
    await future


def test_a_request_the_stop_cancelled_is_one_warning_naming_the_request_and_where_it_waited() -> None:
    async def scenario() -> logging.LogRecord:
        # given a request waiting (a sleep, as on a lock)
        request = asyncio.create_task(_logged_as_uvicorn(lambda: asyncio.sleep(60)))
        await asyncio.sleep(0)
        # when the stop cancels it, as uvicorn past timeout_graceful_shutdown
        request.cancel(msg=STOP_CANCEL_MESSAGE)
        return await request

    record = asyncio.run(scenario())
    # then one WARNING line, no traceback, naming the request and the innermost frame where it waited
    assert (record.levelname, record.exc_info) == ("WARNING", None)
    message = record.getMessage()
    assert message.startswith("a request was cancelled by the stop: it outlasted the time given to requests in flight")
    assert re.fullmatch(r".* \(POST /graphql, waiting at \S*asyncio/tasks\.py:\d+\)", message), message


def test_a_cancelled_error_without_uvicorns_message_keeps_its_error_and_traceback() -> None:
    async def swallowed_cancel_then_a_distinct_bug() -> None:
        # the request's task cancelled once, the cancel swallowed, then a cancelled shared future (review72b F4)
        helper = asyncio.ensure_future(asyncio.sleep(60))
        me = asyncio.current_task()
        assert me is not None
        asyncio.get_running_loop().call_soon(me.cancel)
        try:
            await helper
        except asyncio.CancelledError:
            pass
        await _cancelled_shared_future()

    async def scenario() -> logging.LogRecord:
        return await asyncio.create_task(_logged_as_uvicorn(swallowed_cancel_then_a_distinct_bug))

    record = asyncio.run(scenario())
    # then uvicorn's ERROR and its traceback, as logged
    assert (record.levelname, record.msg) == ("ERROR", ASGI_EXCEPTION)
    assert record.exc_info is not None and record.exc_info[0] is asyncio.CancelledError
