"""How `shopbridge serve --workers N` runs its supervisor (`serve_workers`) and the command's exit status."""

from __future__ import annotations

import signal
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from adapters import interrupts
from gql.supervisor.supervision import Supervisor

KILLED = 128 + signal.SIGKILL  # `serve --workers N`'s status when it had to kill a worker that would not stop


def serve_workers(app: str, workers: int, stop_seconds: float, start_seconds: float, **options: Any) -> int:
    """Serve the app factory `app` ("module:function") from `workers` processes under uvicorn's supervisor
    (uvicorn.run's multi-process path, with `Supervisor`'s look at its workers; a SIGHUP's replacement not serving
    `start_seconds` after its start is killed and that restart aborted) until stopped: 0; 130 if Ctrl+C was
    pressed before the supervisor took over; 3 when a worker process failed to start, seen at the supervisor's next
    look once it exits (every 0.5 s), however slowly it started (uvicorn.run exits 0 then, and a process manager
    restarting on failure would not); 137 (128 + SIGKILL, as `shopbridge worker`) when a worker process had not
    stopped `stop_seconds` after the stop's SIGTERM and was killed, or was still there `FORCED_STOP_SECONDS` after a
    second SIGTERM or SIGINT during the stop and was killed (`Supervisor.handle_term`).

    A SIGTERM recorded before the supervisor installed its handlers stops here, before any process starts; after,
    the supervisor's handlers take it.
    """
    interrupts.record_sigterm()  # where uvicorn's handler hands SIGTERM back once it has shut down (gql.serving)
    config = uvicorn.Config(app, factory=True, workers=workers, **options)
    sock = config.bind_socket()
    try:
        # Supervisor installs its handlers as it is made: no signal is lost from here
        supervisor = Supervisor(config, [sock], stop_seconds, start_seconds)
        if interrupts.terminated() or interrupts.pressed():
            return 130 if interrupts.pressed() else 0
        try:
            supervisor.run()
        except KeyboardInterrupt:
            pass
    finally:
        sock.close()
    if any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes):
        return STARTUP_FAILURE
    return KILLED if supervisor.killed else 0
