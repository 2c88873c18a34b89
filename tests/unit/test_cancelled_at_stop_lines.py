"""gql.logfilters.CancelledAtStopLines: uvicorn's ERROR "Exception in ASGI application" for a request the stop
cancelled is one WARNING line naming the request and where it waited; any other CancelledError keeps uvicorn's ERROR
and its traceback (review72b F4)."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from adapters.cancellation import cancel_kept
from adapters.db.sessions import run_to_completion
from gql.context import until_ended
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


async def _losing_its_cancellation(operation: asyncio.Future[None]) -> None:
    """A library call that loses a cancellation landing as its operation completes, and returns: Python 3.11's
    `asyncio.wait_for` (gh-86296), inside redis-py's commands that `cancel_kept` wraps."""
    try:
        await operation
    except asyncio.CancelledError:
        return


async def _stopped(
    body: Callable[[], Awaitable[None]],
    before: Callable[[], None] = lambda: None,
    after: Callable[[], None] = lambda: None,
) -> logging.LogRecord:
    """The record of a request running `body`, cancelled as uvicorn's stop does once it waits (`before`, then the
    cancel, then `after`, in one turn of the loop each)."""
    request = asyncio.create_task(_logged_as_uvicorn(body))
    await asyncio.sleep(0)
    before()
    request.cancel(msg=STOP_CANCEL_MESSAGE)
    await asyncio.sleep(0)
    after()
    return await request


def test_a_request_the_stop_cancelled_through_a_lost_cancellation_is_the_same_one_warning() -> None:
    async def scenario() -> logging.LogRecord:
        # given a request whose library call loses its cancellation (its operation completed as the cancel came),
        # `cancel_kept` raising it again
        operation = asyncio.get_running_loop().create_future()
        # when the stop cancels it
        return await _stopped(
            lambda: cancel_kept(_losing_its_cancellation(operation)), before=lambda: operation.set_result(None)
        )

    record = asyncio.run(scenario())
    # then the stop's one WARNING, naming our frame that raised it (before: a bare CancelledError, uvicorn's ERROR
    # and traceback: fix72b)
    assert (record.levelname, record.exc_info) == ("WARNING", None), record.getMessage()
    assert re.fullmatch(r".* \(POST /graphql, waiting at adapters/cancellation\.py:\d+\)", record.getMessage())


def test_the_warning_names_our_innermost_frame_and_the_librarys_where_it_waited() -> None:
    async def scenario() -> logging.LogRecord:
        # given a request waiting, in our code (gql.context.until_ended), for a read that ends after its cancellation
        read = asyncio.get_running_loop().create_future()
        # when the stop cancels it, then the read ends
        return await _stopped(lambda: until_ended({read}), after=lambda: read.set_result(None))

    record = asyncio.run(scenario())
    # then the WARNING names our frame where it waited, then asyncio's under it (the cancellation raised as it came:
    # before, a copy raised from until_ended's last line named that line only)
    assert record.levelname == "WARNING"
    message = record.getMessage()
    assert re.fullmatch(r".* \(POST /graphql, waiting at gql/context\.py:\d+ in \S*asyncio/\S+\.py:\d+\)", message), (
        message
    )
    line = int(message.split("gql/context.py:")[1].split(" ")[0])
    assert "await asyncio.wait(pending)" in Path("gql/context.py").read_text().splitlines()[line - 1]


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


def test_a_lost_cancellation_whose_library_call_then_failed_keeps_the_failure_as_an_error() -> None:
    async def losing_its_cancellation_then_failing(operation: asyncio.Future[None]) -> None:
        # a call that drops the cancellation landing as its reply came, then fails (a bug, not an outage)
        try:
            await operation
        except asyncio.CancelledError:
            pass
        raise KeyError("a bug in the publishing code")

    async def scenario() -> logging.LogRecord:
        # given a request whose library call, wrapped by `cancel_kept`, loses the stop's cancellation and then fails
        operation = asyncio.get_running_loop().create_future()
        # when the stop cancels it
        return await _stopped(
            lambda: cancel_kept(losing_its_cancellation_then_failing(operation)),
            before=lambda: operation.set_result(None),
        )

    record = asyncio.run(scenario())
    # then uvicorn's ERROR and its traceback, the failure among it (before: the stop's WARNING alone, the
    # KeyError and its traceback gone: review rev73a F4)
    assert (record.levelname, record.msg) == ("ERROR", ASGI_EXCEPTION)
    assert record.exc_info is not None and isinstance(record.exc_info[1], asyncio.CancelledError)
    assert isinstance(record.exc_info[1].__cause__, KeyError)


def test_a_stop_whose_database_call_failed_as_the_database_stopped_too_is_the_stop_warning() -> None:
    class AdminShutdown(Exception):  # as asyncpg's error when PostgreSQL stops (57P01): an outage, not a bug
        sqlstate = "57P01"

    async def scenario() -> logging.LogRecord:
        # given a request's statement in flight (run_to_completion), which fails once the stop has cancelled the
        # request, as PostgreSQL stopped with the app makes it fail
        reply = asyncio.get_running_loop().create_future()

        async def statement() -> None:
            await reply
            raise AdminShutdown("terminating connection due to administrator command")

        return await _stopped(lambda: run_to_completion(statement()), after=lambda: reply.set_result(None))

    record = asyncio.run(scenario())
    # then the stop's one WARNING, no traceback: an outage is one line, never a traceback (rev73b F4: an ERROR and
    # its traceback per request in a statement since 8f14cfa3)
    assert (record.levelname, record.exc_info) == ("WARNING", None), record.getMessage()
