"""`shopbridge worker --help` names each actor's work under the queue it runs on (tryout64 F3: token refreshes were
said to run on `sync`, they run on `live`; an operator reasons from it about which threads a refresh competes for,
SHOPBRIDGE_WORKER_RESERVED_THREADS)."""

from __future__ import annotations

import argparse
import re

from gql.cli import build_parser
from workers import actors
from workers.broker import LIVE_QUEUE, SYNC_QUEUE

# each actor's work in the words the description uses
WORDS = {
    "run_sync_task": "imports",
    "poll_shop": "polls",
    "refresh_shop_tokens": "token refreshes",
    "process_webhook_events": "webhook processing",
    "register_webhooks": "registration",
    "push_inventory": "inventory pushes",
    "reconcile_inventory": "reconciles",
}


def test_the_worker_help_names_each_actors_work_under_its_queue() -> None:
    parser = build_parser()
    (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    description = " ".join(sub.choices["worker"].description.split())
    said = {
        queue: re.search(rf"`{queue}` queue \(([^)]*)\)", description).group(1)  # type: ignore[union-attr]
        for queue in (SYNC_QUEUE, LIVE_QUEUE)
    }
    for name, words in WORDS.items():
        queue = getattr(actors, name).queue_name
        assert words in said[queue], (name, queue, said)
        (other,) = {SYNC_QUEUE, LIVE_QUEUE} - {queue}
        assert words not in said[other], (name, other, said)
