"""The worker process of `shopbridge serve --workers N` (`WorkerProcess`): uvicorn 0.54's `Process`, serving with
Shopbridge's server. It rests on uvicorn's internals `Process.server` and `._server` (made in the spawned process,
which unpickles the `Process`): an upgrade of uvicorn re-checks them."""

from __future__ import annotations

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

    Made in the parent and pickled to the spawned process (its `target` is a bound method), which imports this
    module to unpickle it; the server is made there, on first use."""

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = Server(self.config)
        return self._server
