"""The worker process of `shopbridge serve --workers N` (`WorkerProcess`): uvicorn 0.54's `Process`, serving with
Shopbridge's server, and ending at once when that server is done (`end_process`). It rests on uvicorn's internals
`Process.server`, `._server` and `.target` (made in the spawned process, which unpickles the `Process`): an upgrade
of uvicorn re-checks them."""

from __future__ import annotations

import atexit
import os
import sys
import threading
from contextlib import suppress
from socket import socket
from typing import NoReturn

import uvicorn
from uvicorn.supervisors.multiprocess import Process

from gql.serving import Server


class WorkerProcess(Process):
    """uvicorn's worker process, serving with Shopbridge's server (`gql.serving.Server`) rather than uvicorn's own:
    the same stop as `shopbridge serve` in one process (the app's quiesce before the listener closes, the requests
    cancelled at the stop waited for before the app's shutdown closes the database, a second Ctrl+C that still runs
    that shutdown). uvicorn's `Process.server` makes a plain `uvicorn.Server` in the worker process (stop 71): a
    request cancelled past `timeout_graceful_shutdown` had the database disposed of under its statement, its
    connection handed back to a disposed pool.

    Once its server has finished (its application's shutdown done), the process ends at once (`end_process`) rather
    than through the interpreter's teardown, which a second Ctrl+C's bound (`FORCED_STOP_SECONDS`) did not cover.

    Made in the parent and pickled to the spawned process (its `target` is a bound method), which imports this
    module to unpickle it; the server is made there, on first use."""

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = Server(self.config)
        return self._server

    def target(self, sockets: list[socket] | None = None) -> None:
        """Serve until stopped, then end the process with status 0 (`end_process`). A Ctrl+C that uvicorn raises
        again once its server has finished (its `capture_signals`) ends it the same way: the stop it asked for is
        done (uvicorn's `subprocess_started` swallowed it, and the process exited 0, as here). A start-up failure
        (SystemExit 3) or an error leaves as before, through multiprocessing's exit."""
        try:
            super().target(sockets)
        except KeyboardInterrupt:
            pass
        end_process(0)


def end_process(status: int) -> NoReturn:
    """End this worker process now with `status`, its Python-level exit done, the interpreter's teardown skipped.

    What a normal exit does that matters is done here, in its order: wait for the threads that are not daemons (none
    is expected: the server's default executor was joined when its event loop closed), run the `atexit` handlers
    (multiprocessing's exit, `logging.shutdown`, which flushes and closes every handler, `weakref.finalize`'s), then
    flush stdout and stderr. What `os._exit` skips is the interpreter's teardown: its full garbage collections and
    the clearing of every module, the finalizers of objects still alive. A worker holds ~150,000 objects once it has
    served (strawberry's schema, SQLAlchemy's tables, the libraries' modules): that teardown cost it 0.65 s of CPU,
    0.14 s per full collection (exit73, measured in the worker at load 8-14), and at load 13-19 on 2 cores 4.6 s
    between "Finished server process" and the process's end, past the 5 s the parent gives a second Ctrl+C's forced
    shutdown (`gql.supervisor.stopping.FORCED_STOP_SECONDS`): the worker was killed and the command exited 137. It
    closes nothing the application's shutdown has not closed already (the database pool disposed of, the broker's
    and the event bus's Redis connections, the TikTok client): the kernel closes the file descriptors as at any exit,
    and a finalizer at teardown could not have closed an asyncio connection politely anyway, its event loop gone.
    A buffered file the application left open and unflushed would lose its buffer; Shopbridge writes its files
    inside `with` blocks."""
    current = threading.current_thread()
    for thread in threading.enumerate():
        if thread is not current and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError):  # a closed stream, or its reader gone: nothing left to flush then
            stream.flush()
    os._exit(status)
