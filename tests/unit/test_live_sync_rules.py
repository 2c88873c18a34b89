"""The live-sync rules of the domain: poll windows and cursors, when a token is refreshed, what a merchant is told."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from domain.attention import AttentionCode, CopiedStock, SyncFacts, shop_attention
from domain.polling import (
    MAX_CURSOR_AGE,
    PollCursor,
    PollSettings,
    PollWindow,
    cursor_reached,
    initial_cursor,
    poll_window,
    queue_poll,
    task_window,
)
from domain.sync import SyncKind, SyncTask, SyncTaskStatus, SyncTrigger
from domain.tokens import REFRESH_CLAIM_TTL, ShopSchedule, refresh_due_at
from tests.fakes import T0, make_shop

SETTINGS = PollSettings(interval=timedelta(minutes=5), overlap=timedelta(minutes=10), settle=timedelta(seconds=30))


def seconds(moment: object) -> int:
    return int(moment.timestamp())  # type: ignore[attr-defined]


class TestPollWindow:
    def test_reads_from_the_cursor_less_the_overlap_to_now_less_the_settle_margin(self) -> None:
        window = poll_window(T0 - timedelta(minutes=5), T0, SETTINGS)
        assert window == PollWindow(seconds(T0 - timedelta(minutes=15)), seconds(T0 - timedelta(seconds=30)))

    def test_is_empty_when_the_cursor_is_ahead_of_the_settle_line(self) -> None:
        no_overlap = replace(SETTINGS, overlap=timedelta(0))
        assert poll_window(T0, T0, no_overlap) is None

    def test_a_due_cursor_is_one_never_scheduled_or_scheduled_an_interval_ago(self) -> None:
        cursor = PollCursor("s1", SyncKind.ORDERS)
        assert cursor.is_due(T0, SETTINGS.interval)
        cursor.scheduled_at = T0 - timedelta(minutes=4)
        assert not cursor.is_due(T0, SETTINGS.interval)
        assert cursor.is_due(T0 + timedelta(minutes=1), SETTINGS.interval)

    def test_a_catch_up_is_due_once_more_a_settle_after_the_authorization_unless_a_poll_covered_it(self) -> None:
        # given a shop re-authorized at T0 + 0.25 s whose catch-up poll ran at the next tick: stored up to about
        # T0 - settle (a window ends on a whole second)
        settle, at = SETTINGS.settle, T0 + timedelta(milliseconds=250)
        cursor = PollCursor("s1", SyncKind.ORDERS, cursor_at=T0 - settle + timedelta(seconds=1), scheduled_at=at)
        # then one more poll is due once its window (`now - settle`, whole seconds) takes in the second of the
        # re-authorization, not before: at T0 + settle it would end at T0 and leave out T0's sales (seen in e2e)
        follow_up = T0 + timedelta(seconds=1) + settle
        assert not cursor.catch_up_due(follow_up - timedelta(microseconds=1), at, settle)
        assert cursor.catch_up_due(follow_up, at, settle)
        window = poll_window(cursor.cursor_at, follow_up, SETTINGS)
        assert window is not None and window.lt > at.timestamp()
        # and only once: a poll started since, it is not due again before its interval (the poll may fail: no loop)
        started = replace(cursor, scheduled_at=follow_up, polled_at=follow_up)
        assert not started.catch_up_due(T0 + settle * 3, at, settle)
        # but sent and not started (a first catch-up begun since the authorization, still running, skips it), it is
        # sent again a settle later
        skipped = replace(cursor, scheduled_at=follow_up, polled_at=at + timedelta(seconds=1))
        assert not skipped.catch_up_due(follow_up + settle - timedelta(microseconds=1), at, settle)
        assert skipped.catch_up_due(follow_up + settle, at, settle)
        # and not when no catch-up began since the authorization (an import holds polls back): its end's poll reads it
        assert not replace(skipped, polled_at=None).catch_up_due(follow_up + settle, at, settle)
        # and not at all when a poll already stored everything before the authorization, or none is known
        assert not replace(cursor, cursor_at=T0 + timedelta(seconds=1)).catch_up_due(follow_up, at, settle)
        assert not cursor.catch_up_due(follow_up, None, settle)
        # and a shop never polled (no cursor yet) is due then too
        assert PollCursor("s1", SyncKind.ORDERS, scheduled_at=at).catch_up_due(follow_up, at, settle)

    def test_a_duplicate_message_of_a_tick_is_recognised(self) -> None:
        cursor = PollCursor("s1", SyncKind.ORDERS, polled_at=T0)
        assert cursor.already_polled_for(T0 - timedelta(seconds=1))
        assert not cursor.already_polled_for(T0 + timedelta(seconds=1))
        assert not cursor.already_polled_for(None)  # a poll asked by hand always runs


class TestPollEdges:
    def test_a_window_of_no_whole_second_is_empty_and_one_second_is_read(self) -> None:
        no_overlap = replace(SETTINGS, overlap=timedelta(0))
        settle_line = T0 - SETTINGS.settle
        assert poll_window(settle_line, T0, no_overlap) is None  # [t, t): nothing to read
        assert poll_window(settle_line - timedelta(seconds=1), T0, no_overlap) == PollWindow(
            seconds(settle_line) - 1, seconds(settle_line)
        )

    def test_due_exactly_one_interval_after_it_was_scheduled(self) -> None:
        cursor = PollCursor("s1", SyncKind.ORDERS, scheduled_at=T0)
        assert not cursor.is_due(T0 + SETTINGS.interval - timedelta(microseconds=1), SETTINGS.interval)
        assert cursor.is_due(T0 + SETTINGS.interval, SETTINGS.interval)

    def test_a_poll_started_at_the_ticks_own_instant_answers_it_and_none_started_answers_nothing(self) -> None:
        assert PollCursor("s1", SyncKind.ORDERS, polled_at=T0).already_polled_for(T0)
        assert not PollCursor("s1", SyncKind.ORDERS).already_polled_for(T0)  # never polled: the tick runs

    def test_a_queued_poll_is_a_scheduled_task_of_the_shop_carrying_its_window(self) -> None:
        shop = make_shop(merchant_id="m7")
        task = queue_poll(shop, SyncKind.PRODUCTS, PollWindow(1000, 2000), T0)
        assert (task.shop_id, task.merchant_id, task.kind, task.trigger, task.status, task.created_at) == (
            shop.id, "m7", SyncKind.PRODUCTS, SyncTrigger.SCHEDULED, SyncTaskStatus.QUEUED, T0,
        )  # fmt: skip
        assert task.checkpoint == {"poll": {"ge": 1000, "lt": 2000}}
        assert task_window(task) == PollWindow(1000, 2000)
        assert len(task.id) >= 16 and task.id != queue_poll(shop, SyncKind.PRODUCTS, PollWindow(1000, 2000), T0).id

    def test_a_window_read_back_from_a_checkpoint_is_whole_seconds(self) -> None:
        assert PollWindow.from_json({"ge": "1000", "lt": 2000.0}) == PollWindow(1000, 2000)
        assert PollWindow(5, 9).to_json() == {"ge": 5, "lt": 9}


class TestInitialCursor:
    def test_starts_where_the_last_import_ended(self) -> None:
        shop = make_shop()
        orders = SyncTask.queue(shop.id, "m1", SyncKind.ORDERS, SyncTrigger.AUTHORIZATION, T0 - timedelta(hours=2))
        products = SyncTask.queue(shop.id, "m1", SyncKind.PRODUCTS, SyncTrigger.AUTHORIZATION, T0 - timedelta(hours=3))
        assert initial_cursor(shop, orders, T0) == orders.orders_created_until == T0 - timedelta(hours=2)
        assert initial_cursor(shop, products, T0) == T0 - timedelta(hours=3)

    def test_without_an_import_starts_at_the_last_sync_or_the_authorization_within_90_days(self) -> None:
        shop = make_shop(now=T0 - timedelta(days=10))
        assert initial_cursor(shop, None, T0) == T0 - timedelta(days=10)
        shop.last_synced_at = T0 - timedelta(days=1)
        assert initial_cursor(shop, None, T0) == T0 - timedelta(days=1)
        old = make_shop(now=T0 - timedelta(days=400))
        assert initial_cursor(old, None, T0) == T0 - MAX_CURSOR_AGE


class TestCursorReached:
    def test_a_finished_poll_reaches_its_window_end_an_unfinished_one_its_last_stored_order(self) -> None:
        shop = make_shop()
        window = PollWindow(1000, 2000)
        orders = queue_poll(shop, SyncKind.ORDERS, window, T0)
        assert cursor_reached(orders) is None  # nothing stored yet
        orders.checkpoint["orders"] = {"slices": [{"resume_ge": 1500, "done": False}]}
        assert cursor_reached(orders) == 1500
        orders.checkpoint["orders"] = {"slices": [{"resume_ge": 1500, "done": True}]}
        assert cursor_reached(orders) == 2000  # its one slice walked to the end, though the task still runs
        products = queue_poll(shop, SyncKind.PRODUCTS, window, T0)
        products.checkpoint["products"] = {"windows": [[1000, 1999]], "page_token": "p2"}
        assert cursor_reached(products) is None  # products come in no useful order: only the end counts
        products.status = SyncTaskStatus.SUCCEEDED
        assert cursor_reached(products) == 2000


class TestTokenRefresh:
    def test_a_seven_day_token_is_refreshed_on_day_six_with_a_bounded_stable_jitter(self) -> None:
        issued, expires = T0, T0 + timedelta(days=7)
        lead = timedelta(days=7) * 0.15  # 25.2 h: more than 24 h
        due = refresh_due_at("shop-a", expires, issued)
        assert expires - lead - lead * 0.1 <= due <= expires - lead
        assert due == refresh_due_at("shop-a", expires, issued)  # every process computes the same time
        others = {refresh_due_at(f"shop-{n}", expires, issued) for n in range(20)}
        assert len(others) > 1  # shops authorized together do not all refresh in the same tick

    def test_a_day_ahead_at_the_latest_and_a_short_token_at_half_life(self) -> None:
        long_lived = refresh_due_at("s", T0 + timedelta(days=3), T0)
        assert long_lived <= T0 + timedelta(days=2)
        short = refresh_due_at("s", T0 + timedelta(seconds=60), T0)
        assert T0 + timedelta(seconds=27) <= short <= T0 + timedelta(seconds=30)

    def test_due_unless_claimed_for_the_current_pair_and_never_for_a_revoked_shop(self) -> None:
        schedule = ShopSchedule(
            "s", "m1", T0 + timedelta(days=300), None, T0 + timedelta(hours=1), T0 - timedelta(days=6)
        )
        assert schedule.refresh_due(T0)
        claimed = replace(schedule, refresh_claimed_at=T0 - timedelta(seconds=10))
        assert not claimed.refresh_due(T0)
        assert claimed.refresh_due(T0 + REFRESH_CLAIM_TTL)  # the claim lapsed: its worker died
        for_an_older_pair = replace(claimed, tokens_issued_at=T0 - timedelta(seconds=5))
        assert for_an_older_pair.claims_older_than(T0) == T0 - timedelta(seconds=5)
        assert not replace(schedule, revoked_at=T0).refresh_due(T0)
        assert not replace(schedule, expires_at=T0).refresh_due(T0)


class TestAttention:
    def test_all_is_well_far_from_expiry(self) -> None:
        assert shop_attention(T0, expires_at=T0 + timedelta(days=300), revoked_at=None) == []

    def test_a_revoked_shop_needs_reauthorization_and_nothing_else(self) -> None:
        failing = SyncFacts(failing_since=T0, failing_kind="ORDERS")
        notices = shop_attention(
            T0, expires_at=T0 + timedelta(days=5), revoked_at=T0 - timedelta(hours=1), sync=failing
        )
        assert [(n.code, n.at) for n in notices] == [(AttentionCode.REAUTHORIZATION_REQUIRED, T0 - timedelta(hours=1))]

    def test_an_expired_shop_needs_reauthorization_since_its_end(self) -> None:
        notices = shop_attention(T0, expires_at=T0 - timedelta(days=1), revoked_at=None)
        assert [(n.code, n.at) for n in notices] == [(AttentionCode.REAUTHORIZATION_REQUIRED, T0 - timedelta(days=1))]

    def test_expiring_within_30_days_counts_the_days_to_the_earlier_end(self) -> None:
        ends = T0 + timedelta(days=20)
        notices = shop_attention(
            T0, expires_at=T0 + timedelta(days=300), revoked_at=None, authorization_expires_at=ends
        )
        assert [(n.code, n.at) for n in notices] == [(AttentionCode.EXPIRING_SOON, ends)]
        assert "in 20 days" in notices[0].message
        soon = shop_attention(T0, expires_at=T0 + timedelta(hours=5), revoked_at=None)
        assert "within a day" in soon[0].message

    def test_each_notice_says_what_happened_in_words_the_merchant_reads(self) -> None:
        far = T0 + timedelta(days=300)
        revoked = shop_attention(T0, expires_at=far, revoked_at=T0)
        expired = shop_attention(T0, expires_at=T0 - timedelta(days=1), revoked_at=None)
        in_ten = shop_attention(T0, expires_at=T0 + timedelta(days=9, hours=23), revoked_at=None)
        in_one_day_and_a_bit = shop_attention(T0, expires_at=T0 + timedelta(days=1, seconds=1), revoked_at=None)
        silent = shop_attention(
            T0, expires_at=far, revoked_at=None, webhooks_registered_at=T0 - timedelta(days=2),
            last_webhook_at=T0 - timedelta(hours=3), sync=SyncFacts(changes_found_at=T0),
        )  # fmt: skip
        failing = shop_attention(T0, expires_at=far, revoked_at=None, sync=SyncFacts(failing_since=T0))
        orders = shop_attention(T0, expires_at=far, revoked_at=None, sync=SyncFacts(T0, T0, "ORDERS"))
        notices = [*revoked, *expired, *in_ten, *in_one_day_and_a_bit, *silent, *failing, *orders]
        assert [n.message for n in notices] == [
            "TikTok no longer honours the shop's authorization: re-authorize it to resume syncing.",
            "TikTok ended the shop's authorization: re-authorize it to resume syncing.",
            "The shop's authorization ends in 10 days: re-authorize it to keep syncing.",
            "The shop's authorization ends in 2 days: re-authorize it to keep syncing.",
            "TikTok's notifications have stopped arriving while changes keep happening; polling still brings them "
            "in, with a delay of up to one poll interval.",
            "The last sync failed; it is retried at the next poll.",  # a kind not known
            "The last orders sync failed; it is retried at the next poll.",
        ]
        assert [n.at for n in silent] == [T0 - timedelta(hours=3)]

    def test_a_failing_sync_says_what_to_do_when_the_next_poll_cannot_mend_it(self) -> None:
        # Rule (domain.attention `_failing`, newcomer57 F10): by the failed task's code
        far = T0 + timedelta(days=300)

        def message(code: str | None) -> str:
            facts = SyncFacts(failing_since=T0, failing_kind="PRODUCTS", failing_code=code)
            (notice,) = shop_attention(T0, expires_at=far, revoked_at=None, sync=facts)
            return notice.message

        assert message("MISSING_SCOPE") == (
            "The last products sync failed: the shop's authorization lacks a permission Shopbridge needs, so the "
            "next poll fails the same way. Re-authorize the shop; the Task Center has the details."
        )
        assert message("TIKTOK_REJECTED") == (
            "The last products sync failed: TikTok refused a request (its reason is in the Task Center). The next "
            "poll tries again, but may be refused the same way."
        )
        for retried in ("TIKTOK_UNAVAILABLE", "TIME_LIMIT_EXCEEDED", None):
            assert message(retried) == "The last products sync failed; it is retried at the next poll."

    def test_webhooks_silent_only_once_registered_and_long_quiet_while_polls_find_changes(self) -> None:
        far = T0 + timedelta(days=300)
        changes = SyncFacts(changes_found_at=T0)
        assert shop_attention(T0, expires_at=far, revoked_at=None, sync=changes) == []  # no webhooks in use
        registered = T0 - timedelta(days=2)
        quiet_since = T0 - timedelta(hours=3)
        notices = shop_attention(
            T0, expires_at=far, revoked_at=None, webhooks_registered_at=registered, last_webhook_at=quiet_since,
            sync=changes,
        )  # fmt: skip
        assert [(n.code, n.at) for n in notices] == [(AttentionCode.WEBHOOKS_SILENT, quiet_since)]
        recent = shop_attention(
            T0, expires_at=far, revoked_at=None, webhooks_registered_at=registered,
            last_webhook_at=T0 - timedelta(minutes=10), sync=changes,
        )  # fmt: skip
        assert recent == []

    def test_a_failing_sync_is_reported_with_its_kind(self) -> None:
        facts = SyncFacts(failing_since=T0 - timedelta(minutes=3), failing_kind="ORDERS")
        notices = shop_attention(T0, expires_at=T0 + timedelta(days=300), revoked_at=None, sync=facts)
        assert [(n.code, n.at) for n in notices] == [(AttentionCode.SYNC_FAILING, T0 - timedelta(minutes=3))]
        assert "orders" in notices[0].message

    def test_skus_on_copied_counts_make_one_notice_naming_the_first_and_counting_the_rest(self) -> None:
        # given three SKUs of the shop on items seeded as copies (tryout72 F1), the first MUG-XL copied from MUG
        copied = CopiedStock(3, "MUG-XL", "MUG-XL", "MUG", T0 - timedelta(days=2))
        # then one STOCK_COPIED notice, last (a failing sync before it), since the first seed
        facts = SyncFacts(failing_since=T0 - timedelta(minutes=3), failing_kind="ORDERS", copied_stock=copied)
        notices = shop_attention(T0, expires_at=T0 + timedelta(days=300), revoked_at=None, sync=facts)
        assert [(n.code, n.at) for n in notices] == [
            (AttentionCode.SYNC_FAILING, T0 - timedelta(minutes=3)),
            (AttentionCode.STOCK_COPIED, T0 - timedelta(days=2)),
        ]
        assert 'copied from item "MUG", the one it drew on before (and 2 more SKUs of this shop like it)' in (
            notices[1].message
        )
        # and a revoked shop says only what matters first
        revoked = shop_attention(T0, expires_at=T0 + timedelta(days=300), revoked_at=T0, sync=facts)
        assert [n.code for n in revoked] == [AttentionCode.REAUTHORIZATION_REQUIRED]


class TestAttentionEdges:
    FAR = T0 + timedelta(days=300)

    def codes_and_times(self, **kwargs: object) -> list[tuple[AttentionCode, object]]:
        return [(n.code, n.at) for n in shop_attention(T0, **kwargs)]  # type: ignore[arg-type]

    def test_the_earlier_of_the_token_expiry_and_the_announced_end_counts(self) -> None:
        token_end, announced = T0 + timedelta(days=10), T0 + timedelta(days=20)
        assert self.codes_and_times(expires_at=token_end, revoked_at=None, authorization_expires_at=announced) == [
            (AttentionCode.EXPIRING_SOON, token_end)
        ]
        ended = T0 - timedelta(hours=1)
        assert self.codes_and_times(expires_at=self.FAR, revoked_at=None, authorization_expires_at=ended) == [
            (AttentionCode.REAUTHORIZATION_REQUIRED, ended)
        ]

    def test_a_revoked_shop_is_dated_by_its_revocation_even_when_its_authorization_also_ended(self) -> None:
        revoked, ended = T0 - timedelta(hours=2), T0 - timedelta(days=1)
        notices = shop_attention(T0, expires_at=ended, revoked_at=revoked)
        assert [(n.code, n.at) for n in notices] == [(AttentionCode.REAUTHORIZATION_REQUIRED, revoked)]
        assert notices[0].message.startswith("TikTok no longer honours")

    def test_the_warning_starts_exactly_30_days_ahead(self) -> None:
        at_30 = T0 + timedelta(days=30)
        assert self.codes_and_times(expires_at=at_30, revoked_at=None) == [(AttentionCode.EXPIRING_SOON, at_30)]
        assert self.codes_and_times(expires_at=at_30 + timedelta(microseconds=1), revoked_at=None) == []

    def test_the_days_left_are_rounded_up_and_the_last_day_is_within_a_day(self) -> None:
        def message(left: timedelta) -> str:
            return shop_attention(T0, expires_at=T0 + left, revoked_at=None)[0].message

        assert "ends in 30 days:" in message(timedelta(days=30))
        assert "ends in 7 days:" in message(timedelta(days=6, hours=1))
        assert "ends in 2 days:" in message(timedelta(days=1, microseconds=1))
        assert "ends within a day:" in message(timedelta(days=1))
        assert "ends within a day:" in message(timedelta(seconds=1))

    def test_webhooks_are_silent_only_after_more_than_an_hour_without_one(self) -> None:
        registered = T0 - timedelta(days=2)
        changes = SyncFacts(changes_found_at=T0)

        def silent(last_webhook_at: object) -> list[tuple[AttentionCode, object]]:
            return self.codes_and_times(
                expires_at=self.FAR, revoked_at=None, webhooks_registered_at=registered,
                last_webhook_at=last_webhook_at, sync=changes,
            )  # fmt: skip

        assert silent(T0 - timedelta(hours=1)) == []
        hour_and_a_bit = T0 - timedelta(hours=1, microseconds=1)
        assert silent(hour_and_a_bit) == [(AttentionCode.WEBHOOKS_SILENT, hour_and_a_bit)]
        assert silent(None) == [(AttentionCode.WEBHOOKS_SILENT, registered)]  # none ever came: since registration

    def test_a_webhook_from_before_the_registration_does_not_date_the_silence(self) -> None:
        registered = T0 - timedelta(minutes=30)
        notices = self.codes_and_times(
            expires_at=self.FAR, revoked_at=None, webhooks_registered_at=registered,
            last_webhook_at=T0 - timedelta(days=3), sync=SyncFacts(changes_found_at=T0),
        )  # fmt: skip
        assert notices == []  # registered 30 min ago: not yet an hour of silence

    def test_nothing_is_said_about_webhooks_without_facts_about_polls(self) -> None:
        registered = T0 - timedelta(days=2)
        assert self.codes_and_times(expires_at=self.FAR, revoked_at=None, webhooks_registered_at=registered) == []
        no_changes = SyncFacts(failing_since=None)
        assert (
            self.codes_and_times(
                expires_at=self.FAR, revoked_at=None, webhooks_registered_at=registered, sync=no_changes
            )
            == []
        )

    def test_notices_come_most_urgent_first(self) -> None:
        ends = T0 + timedelta(days=3)
        registered = T0 - timedelta(days=2)
        facts = SyncFacts(changes_found_at=T0, failing_since=T0 - timedelta(minutes=1), failing_kind="PRODUCTS")
        notices = shop_attention(T0, expires_at=ends, revoked_at=None, webhooks_registered_at=registered, sync=facts)
        assert [(n.code, n.at) for n in notices] == [
            (AttentionCode.EXPIRING_SOON, ends),
            (AttentionCode.WEBHOOKS_SILENT, registered),
            (AttentionCode.SYNC_FAILING, T0 - timedelta(minutes=1)),
        ]
        assert notices[2].message == "The last products sync failed; it is retried at the next poll."
