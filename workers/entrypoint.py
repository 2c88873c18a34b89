"""What `dramatiq workers.entrypoint` imports in each worker process: settings, the Redis broker, the actors."""

from __future__ import annotations

from adapters.config import load_settings
from adapters.logs import configure_logging
from workers.broker import setup_broker

settings = load_settings()
configure_logging(settings.log_level, settings.log_format)  # each worker process: to Dramatiq's log pipe
if not settings.broker_url:
    raise SystemExit("shopbridge worker needs SHOPBRIDGE_BROKER_URL (redis://...): the embedded mode needs none")
broker = setup_broker(settings)
