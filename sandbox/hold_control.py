"""Holding business API calls until a test releases them (issue 13: act while an import is under way, whatever the
machine's speed, instead of slowing TikTok and hoping).

- `GET /_sandbox/hold` -> `{"paths": [...], "waiting": n, "held": n}`: the API paths held, the calls waiting now,
  and the calls held since the paths were last set.
- `POST /_sandbox/hold` `{"paths": ["/order/202309/orders/search"]}`: from now on calls of those APIs (route
  templates, as in `POST /_sandbox/faults`) wait before being answered; calls of a path left out are answered at
  once; `{"paths": []}` releases everything. `held` restarts from 0. Unknown path -> 400.
- `POST /_sandbox/hold/release` -> `{"released": n, "paths", "waiting", "held"}`: the calls waiting now are
  answered, the paths stay held for the next calls (let one page through at a time).

`POST /_sandbox/reset` releases everything too. Held calls have passed the gateway's checks and rate limit; a
`slow` fault or latency still applies to them.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from sandbox.api import ROUTES
from sandbox.control import BadInput, Control, _json
from sandbox.state import World

API_PATHS = frozenset(route.template for route in ROUTES)


class HoldControl:
    def __init__(self, world: World) -> None:
        self.world = world

    def routes(self) -> list[Route]:
        return [
            Route("/_sandbox/hold", Control._guard(self.get), methods=["GET"]),
            Route("/_sandbox/hold", Control._guard(self.set), methods=["POST"]),
            Route("/_sandbox/hold/release", Control._guard(self.release), methods=["POST"]),
        ]

    async def get(self, request: Request) -> dict[str, Any]:
        return self.world.holds.describe()

    async def set(self, request: Request) -> dict[str, Any]:
        paths = (await _json(request)).get("paths")
        if not isinstance(paths, list) or not all(isinstance(path, str) for path in paths):
            raise BadInput("paths must be a list of API paths, e.g. /order/202309/orders/search ([] releases all)")
        unknown = sorted(set(paths) - API_PATHS)
        if unknown:
            raise BadInput(f"unknown API paths {unknown}; known: {sorted(API_PATHS)}")
        self.world.holds.hold(tuple(paths))
        return self.world.holds.describe()

    async def release(self, request: Request) -> dict[str, Any]:
        released = self.world.holds.release_waiting()
        return {"released": released, **self.world.holds.describe()}
