"""`UnknownKeywordsIgnored`: a message's keyword argument its actor does not take is dropped, in one DEBUG line.

The rule for every actor on a broker of `workers.broker.setup_broker` (the embedded pool's and worker processes'
alike), so that releases can overlap in a rolling deploy: a newer release may send a keyword an older worker's
actor does not know yet (`run_sync_task(task_id, after_webhook_registration=True)` to a release before the
registration wait). Dramatiq called the actor with it: a `TypeError`, retried with backoff until the retries ran
out, then the database sweeps sent the work again minutes later. Now the older worker runs the message without it.

So a keyword added to an actor must be one an older release may ignore: a hint that changes when or how the work is
done (wait for something, look further), never its meaning; a change of meaning takes a new actor. Positional
arguments are the actor's contract and are left alone (a missing or extra one still fails), as is an actor taking
`**kwargs`, and a message whose actor this process does not declare (Dramatiq's own error names it).

Only the call goes without the keyword, never the message: every send of the message again (Dramatiq's Retries, a
retry sent once Redis is back, a run sent back to wait for its slot or the schema) carries it, so a retry that lands
on a newer worker still gets its sender's hint. (Deleting it from `message.kwargs`, the message's own dict, lost it
in every retry: review53 item 4.)
"""

from __future__ import annotations

import inspect
import logging

import dramatiq
from dramatiq.broker import MessageProxy
from dramatiq.errors import ActorNotFound
from dramatiq.middleware import Middleware

log = logging.getLogger(__name__)


class UnknownKeywordsIgnored(Middleware):
    """Calls an actor without the message's keyword arguments its function has no parameter for."""

    def __init__(self) -> None:
        # The keyword names each actor takes, by actor name; None: it takes any (`**kwargs`).
        self._taken: dict[str, frozenset[str] | None] = {}

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        """Give the worker, which calls the actor with `message.kwargs`, the message's keywords less the unknown ones.

        The proxy `message` gets a `kwargs` attribute of its own (read before its `__getattr__`, which reads the
        wrapped `Message`): the `Message` keeps its keywords, and every copy, encoding or `asdict` of it with them."""
        if not message.kwargs:
            return
        taken = self._keywords_taken(broker, message.actor_name)
        unknown = [] if taken is None else [name for name in message.kwargs if name not in taken]
        if not unknown:
            return
        message.kwargs = {name: value for name, value in message.kwargs.items() if name not in unknown}
        log.debug(
            "message %s of %s: ignored the keyword argument(s) %s, unknown to this release (sent by a newer one)",
            message.message_id, message.actor_name, ", ".join(unknown),
        )  # fmt: skip

    def _keywords_taken(self, broker: dramatiq.Broker, actor_name: str) -> frozenset[str] | None:
        if actor_name not in self._taken:
            try:
                actor = broker.get_actor(actor_name)
            except ActorNotFound:
                return None  # the worker fails the message itself, naming the actor
            # `inspect.signature` follows `functools.wraps` (Dramatiq's `async_to_sync`, `refused_quietly`) down to
            # the actor's own function.
            parameters = inspect.signature(actor.fn).parameters.values()
            if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
                self._taken[actor_name] = None
            else:
                keywords = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
                self._taken[actor_name] = frozenset(p.name for p in parameters if p.kind in keywords)
        return self._taken[actor_name]
