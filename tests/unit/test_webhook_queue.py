"""The task queue over the actors: webhook processing goes to the `live` queue; registration is skipped when the
address is configured app-wide in Partner Center (SHOPBRIDGE_WEBHOOKS_APP_WIDE)."""

from __future__ import annotations

from pathlib import Path

import pytest
from dramatiq import Message

from adapters.config import ConfigError, load_settings
from workers.broker import LIVE_QUEUE, setup_broker


def settings_for(tmp_path: Path, app_wide: str | None):
    env = {"SHOPBRIDGE_DATA_DIR": str(tmp_path)}
    if app_wide is not None:
        env["SHOPBRIDGE_WEBHOOKS_APP_WIDE"] = app_wide
    return load_settings(env)


@pytest.mark.parametrize(("app_wide", "registrations"), [(None, 1), ("false", 1), ("true", 0), ("1", 0)])
async def test_registration_is_queued_unless_the_address_is_app_wide(tmp_path, app_wide, registrations) -> None:
    settings = settings_for(tmp_path, app_wide)
    broker = setup_broker(settings)
    from workers.actors import task_queue

    queue = task_queue(settings)
    await queue.enqueue_webhook_registration("shop-1")
    await queue.enqueue_webhook_events("shop-1")
    await queue.enqueue_inventory_push("shop-1")
    decoded = [Message.decode(raw) for raw in broker.queues[LIVE_QUEUE].queue]
    messages = [message.actor_name for message in decoded]
    assert messages.count("register_webhooks") == registrations
    assert messages.count("process_webhook_events") == 1
    assert [m.args for m in decoded if m.actor_name == "push_inventory"] == [("shop-1",)]
    broker.close()


def test_settings(tmp_path) -> None:
    settings = settings_for(tmp_path, None)
    assert (settings.webhook_max_bytes, settings.webhooks_app_wide) == (256 * 1024, False)
    assert settings.webhook_url == "http://127.0.0.1:8000/webhooks/tiktok"
    custom = load_settings({"SHOPBRIDGE_DATA_DIR": str(tmp_path), "SHOPBRIDGE_WEBHOOK_MAX_BYTES": "4096"})
    assert custom.webhook_max_bytes == 4096
    with pytest.raises(ConfigError, match="SHOPBRIDGE_WEBHOOKS_APP_WIDE"):
        settings_for(tmp_path, "maybe")
    with pytest.raises(ConfigError, match="SHOPBRIDGE_WEBHOOK_MAX_BYTES"):
        load_settings({"SHOPBRIDGE_DATA_DIR": str(tmp_path), "SHOPBRIDGE_WEBHOOK_MAX_BYTES": "0"})
