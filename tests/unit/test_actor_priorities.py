"""Which message a busy worker takes first: a token refresh has a deadline (the token's expiry); then a webhook
registration, which TikTok's pushes for the shop wait for; then everything else, first in first out."""

from __future__ import annotations

from adapters.config import load_settings
from workers.broker import setup_broker


def test_a_token_refresh_goes_before_every_other_message_a_worker_holds(tmp_path) -> None:
    broker = setup_broker(load_settings({"SHOPBRIDGE_DATA_DIR": str(tmp_path)}))
    import workers.actors  # noqa: F401 - declares the actors on this broker

    # Dramatiq's workers take the held message of the lowest priority first (FIFO among equals)
    priorities = {name: broker.get_actor(name).priority for name in broker.get_declared_actors()}
    refresh = priorities.pop("refresh_shop_tokens")
    registration = priorities.pop("register_webhooks")
    assert set(priorities) >= {"run_sync_task", "poll_shop", "push_inventory", "process_webhook_events"}
    assert refresh < registration, (refresh, registration)
    assert all(registration < other for other in priorities.values()), (registration, priorities)
    broker.close()
