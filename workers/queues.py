"""The Dramatiq queues Shopbridge's messages go to, by name: alone, so that naming them imports no broker."""

SYNC_QUEUE = "sync"  # the queue of sync task messages
LIVE_QUEUE = "live"  # webhook processing and registration: short messages, kept apart from hour-long imports
