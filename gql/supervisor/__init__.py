"""`shopbridge serve --workers N`: uvicorn's supervisor of the worker processes (`Supervisor`, over uvicorn 0.54's
`Multiprocess`) and how the command runs it (`serve_workers`).

A worker process still starting is waited for until it serves or exits, not killed as hung by uvicorn's health
check: on a busy host every booting worker was killed and replaced, in a loop, and a `serve` whose workers could not
start never exited (flake70). The same rule holds for a SIGHUP's replacements (review70b A4), up to a bound of their
own, `start_seconds` (minutes): one not serving by then is killed and that restart aborted. A worker told to stop has
`stop_seconds` to do so before it is killed (the command then exits 137), so one hung in its start-up no longer keeps
the command from stopping (review70b A3); a second SIGTERM or Ctrl+C during that stop gives them `FORCED_STOP_SECONDS`
for their own forced shutdown (a terminal's Ctrl+C reaches them too), then kills those still there.
Each worker process serves with `gql.serving`'s server (`WorkerProcess`); the options are `gql.cli`'s.

The package, one part a module: `worker_process` (the process each worker is, serving with `gql.serving`'s server),
`supervision` (`Supervisor`: the looks at the workers, SIGHUP's restart, SIGTTIN and SIGTTOU), `stopping` (the
bounded stop and the forced one, `Supervisor`'s base) and `command` (`serve_workers`, the command's exit status).
Each says which of uvicorn 0.54's internals it rests on; an upgrade of uvicorn re-checks them.
"""

from gql.supervisor.command import KILLED, serve_workers
from gql.supervisor.stopping import FORCED_STOP_SECONDS
from gql.supervisor.supervision import Supervisor
from gql.supervisor.worker_process import WorkerProcess

__all__ = ["FORCED_STOP_SECONDS", "KILLED", "Supervisor", "WorkerProcess", "serve_workers"]
