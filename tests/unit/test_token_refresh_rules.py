"""When an access token is refreshed (domain.tokens, live-sync.md §7.8): the lead, the per-shop jitter, the claim.

lead = max(24 h, 15 % of the lifetime), at most half the lifetime; jitter in [0, 10 % of the lead), fixed per shop.
The expected times below are written from that rule, never computed by the code under test.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from domain.tokens import ShopSchedule, refresh_due, refresh_due_at
from tests.fakes import T0, make_shop

SHOPS = [f"shop-{n}" for n in range(1000)]


@pytest.mark.parametrize(
    ("lifetime", "lead"),
    [
        (timedelta(days=3), timedelta(hours=24)),  # 15 % is 10.8 h: the 24 h floor
        (timedelta(days=7), timedelta(hours=25, minutes=12)),  # 15 % of 168 h: 25.2 h
        (timedelta(days=30), timedelta(hours=108)),  # 15 % of 720 h
        (timedelta(hours=10), timedelta(hours=5)),  # 24 h is more than half: half-life
    ],
)
def test_a_thousand_shops_spread_over_a_tenth_of_the_lead_before_the_lead(lifetime: timedelta, lead: timedelta) -> None:
    expires = T0 + lifetime
    dues = [refresh_due_at(shop, expires, T0) for shop in SHOPS]
    assert all(expires - lead * 1.1 < due <= expires - lead for due in dues)
    # the digests fill the whole tenth: some shop near each of its ends
    slack = lead * 0.1 * 0.05
    assert min(dues) < expires - lead * 1.1 + slack
    assert max(dues) > expires - lead - slack


def test_a_token_issued_after_its_own_expiry_is_due_at_its_expiry() -> None:
    # a clock step or a bad answer: the lifetime counts as zero, so there is no lead and no jitter
    assert refresh_due_at("shop-a", T0, T0 + timedelta(days=1)) == T0
    assert refresh_due_at("shop-a", T0, T0) == T0


class TestShopRefreshDue:
    def test_due_from_its_due_time_on(self) -> None:
        shop = make_shop()
        due = refresh_due_at(shop.id, shop.tokens.access_token_expires_at, shop.tokens_issued_at)
        assert not refresh_due(shop, due - timedelta(microseconds=1))
        assert refresh_due(shop, due)

    def test_the_pair_is_dated_by_its_last_refresh(self) -> None:
        shop = make_shop()
        later = T0 + timedelta(hours=3)
        shop.refresh_tokens(replace(shop.tokens, access_token_expires_at=later + timedelta(hours=4)), later)
        # a 4 h token issued at later: lead 2 h (half-life), jitter at most 12 min
        assert not refresh_due(shop, later + timedelta(hours=1, minutes=47))
        assert refresh_due(shop, later + timedelta(hours=2))

    def test_never_for_a_revoked_or_expired_shop(self) -> None:
        shop = make_shop()
        long_after = T0 + timedelta(hours=4)  # the access token has expired: due if the shop were alive
        assert refresh_due(shop, long_after)
        assert not refresh_due(shop, shop.expires_at)
        shop.revoke(T0)
        assert not refresh_due(shop, long_after)


class TestScheduleRefreshDue:
    def schedule(self, **changes: object) -> ShopSchedule:
        # access token issued 6 days ago, expiring in an hour: due whatever the jitter
        base = ShopSchedule("s", "m1", T0 + timedelta(days=300), None, T0 + timedelta(hours=1), T0 - timedelta(days=6))
        return replace(base, **changes)  # type: ignore[arg-type]

    def test_a_claim_holds_two_minutes_to_the_microsecond(self) -> None:
        assert self.schedule().refresh_due(T0)
        assert not self.schedule(refresh_claimed_at=T0 - timedelta(minutes=2)).refresh_due(T0)
        lapsed = T0 - timedelta(minutes=2, microseconds=1)
        assert self.schedule(refresh_claimed_at=lapsed).refresh_due(T0)

    def test_a_claim_for_an_earlier_pair_no_longer_holds(self) -> None:
        # a 30 s pair, refreshed 30 s ago and expiring now: due, unless a claim was made since its refresh
        issued = T0 - timedelta(seconds=30)
        pair = {"tokens_issued_at": issued, "access_token_expires_at": T0}
        assert not self.schedule(**pair, refresh_claimed_at=issued).refresh_due(T0)
        earlier = issued - timedelta(microseconds=1)
        assert self.schedule(**pair, refresh_claimed_at=earlier).refresh_due(T0)

    def test_claims_lapse_two_minutes_back_or_at_the_pairs_issue(self) -> None:
        assert self.schedule().claims_older_than(T0) == T0 - timedelta(minutes=2)
        assert self.schedule(tokens_issued_at=T0 - timedelta(seconds=5)).claims_older_than(T0) == T0 - timedelta(
            seconds=5
        )

    def test_due_from_its_due_time_on(self) -> None:
        schedule = self.schedule(
            access_token_expires_at=T0 + timedelta(days=1), tokens_issued_at=T0 - timedelta(days=6)
        )
        due = refresh_due_at("s", T0 + timedelta(days=1), T0 - timedelta(days=6))
        assert not schedule.refresh_due(due - timedelta(microseconds=1))
        assert schedule.refresh_due(due)

    @pytest.mark.parametrize(
        ("changes", "may_sync"),
        [
            ({}, True),
            ({"expires_at": T0 + timedelta(days=1)}, True),  # expiring soon still syncs
            ({"expires_at": T0}, False),
            ({"revoked_at": T0}, False),
        ],
    )
    def test_only_a_live_authorization_syncs_or_refreshes(self, changes: dict[str, object], may_sync: bool) -> None:
        schedule = self.schedule(**changes)
        assert (schedule.may_sync(T0), schedule.refresh_due(T0)) == (may_sync, may_sync)
