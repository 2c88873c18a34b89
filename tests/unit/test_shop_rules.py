"""Store-management rules as pure unit tests: names, regions, consent outcome, expiry, state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.authorization import STATE_TTL, AuthorizationRequest, state_digest
from domain.errors import DomainError, ErrorCode
from domain.shops import (
    AuthorizedShop,
    Region,
    Shop,
    ShopStatus,
    TokenSet,
    choose_authorized_shop,
    connect_or_renew,
    parse_shop_name,
)

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def tokens(refresh_expires: datetime = NOW + timedelta(days=365)) -> TokenSet:
    return TokenSet("access-secret", NOW + timedelta(days=7), "refresh-secret", refresh_expires, "Seller")


def granted(shop_id: str = "7000000000000000001", region: str = "US", seller_type: str = "LOCAL") -> AuthorizedShop:
    return AuthorizedShop(shop_id, "TikTok name", region, seller_type, "GCP_cipher", "USCODE")


def code_of(exc: pytest.ExceptionInfo[DomainError]) -> ErrorCode:
    return exc.value.code


class TestShopName:
    def test_trimmed(self) -> None:
        assert parse_shop_name("  My shop \t") == "My shop"

    @pytest.mark.parametrize("raw", ["", "   ", "a" * 65, "bad\nname", "bad\x00", "tab\tinside", "rtl\u202eevil"])
    def test_rejected(self, raw: str) -> None:
        with pytest.raises(DomainError) as exc:
            parse_shop_name(raw)
        assert code_of(exc) is ErrorCode.INVALID_NAME
        assert exc.value.field == ("name",)

    @pytest.mark.parametrize("raw", ["a", "a" * 64, "店铺 🛍️ Ünïcode", "  " + "b" * 64 + "  "])
    def test_accepted(self, raw: str) -> None:
        assert parse_shop_name(raw) == raw.strip()


class TestConsentOutcome:
    def test_local_shop_in_chosen_region(self) -> None:
        assert choose_authorized_shop([granted()], Region.US).tiktok_shop_id == "7000000000000000001"

    def test_tiktok_gb_is_our_uk(self) -> None:
        assert choose_authorized_shop([granted(region="GB")], Region.UK).region_code == "GB"

    def test_cross_border_refused(self) -> None:
        shops = [granted(region="GB", seller_type="CROSS_BORDER"), granted("2", "MY", "CROSS_BORDER")]
        with pytest.raises(DomainError) as exc:
            choose_authorized_shop(shops, Region.UK)
        assert code_of(exc) is ErrorCode.CROSS_BORDER_SHOP

    def test_unsupported_region(self) -> None:
        with pytest.raises(DomainError) as exc:
            choose_authorized_shop([granted(region="ID")], Region.US)
        assert code_of(exc) is ErrorCode.UNSUPPORTED_REGION

    def test_region_mismatch(self) -> None:
        with pytest.raises(DomainError) as exc:
            choose_authorized_shop([granted(region="MY")], Region.SG)
        assert code_of(exc) is ErrorCode.REGION_MISMATCH


class TestShop:
    def make(self, refresh_expires: datetime = NOW + timedelta(days=365)) -> Shop:
        return Shop.connect("m1", "Mine", Region.US, granted(), tokens(refresh_expires), NOW)

    def test_expiry_is_the_refresh_tokens(self) -> None:
        shop = self.make(NOW + timedelta(days=100))
        assert shop.expires_at == NOW + timedelta(days=100)

    @pytest.mark.parametrize(
        ("left", "status"),
        [
            (timedelta(days=30), ShopStatus.ACTIVE),
            (timedelta(days=7, seconds=1), ShopStatus.ACTIVE),
            (timedelta(days=7), ShopStatus.EXPIRING_SOON),
            (timedelta(seconds=1), ShopStatus.EXPIRING_SOON),
            (timedelta(0), ShopStatus.EXPIRED),
            (-timedelta(days=1), ShopStatus.EXPIRED),
        ],
    )
    def test_status_by_time_left(self, left: timedelta, status: ShopStatus) -> None:
        assert self.make(NOW + left).status(NOW) is status

    def test_revoked_beats_expiry(self) -> None:
        shop = self.make()
        shop.revoke(NOW)
        assert shop.status(NOW) is ShopStatus.REVOKED

    def test_reauthorize_renews_and_keeps_name(self) -> None:
        shop = self.make(NOW + timedelta(days=1))
        shop.revoke(NOW)
        later = NOW + timedelta(hours=1)
        shop.reauthorize(granted(), tokens(NOW + timedelta(days=365)), later)
        assert (shop.name, shop.status(later), shop.authorized_at) == ("Mine", ShopStatus.ACTIVE, later)

    def test_reauthorize_other_shop_is_refused_and_changes_nothing(self) -> None:
        shop = self.make(NOW + timedelta(days=1))
        with pytest.raises(DomainError) as exc:
            shop.reauthorize(granted("999"), tokens(NOW + timedelta(days=365)), NOW)
        assert code_of(exc) is ErrorCode.SHOP_MISMATCH
        assert shop.expires_at == NOW + timedelta(days=1)

    def test_token_repr_hides_tokens(self) -> None:
        assert "secret" not in repr(tokens()) and "secret" not in repr(self.make())


class TestAuthorizationRequest:
    def test_start_requires_confirmation(self) -> None:
        with pytest.raises(DomainError) as exc:
            AuthorizationRequest.start("m1", Region.US, "Mine", False, NOW)
        assert code_of(exc) is ErrorCode.REGION_NOT_CONFIRMED

    def test_state_is_unguessable_and_stored_as_digest(self) -> None:
        first, state1 = AuthorizationRequest.start("m1", Region.US, "Mine", True, NOW)
        _, state2 = AuthorizationRequest.start("m1", Region.US, "Mine", True, NOW)
        assert state1 != state2 and len(state1) >= 43
        assert first.state_digest == state_digest(state1) != state1

    def test_single_use(self) -> None:
        request, _ = AuthorizationRequest.start("m1", Region.US, "Mine", True, NOW)
        request.consume(NOW)
        with pytest.raises(DomainError) as exc:
            request.consume(NOW)
        assert code_of(exc) is ErrorCode.INVALID_STATE

    def test_expires_after_30_minutes(self) -> None:
        request, _ = AuthorizationRequest.start("m1", Region.US, "Mine", True, NOW)
        request_copy, _ = AuthorizationRequest.start("m1", Region.US, "Mine", True, NOW)
        request_copy.consume(NOW + STATE_TTL - timedelta(seconds=1))
        with pytest.raises(DomainError) as exc:
            request.consume(NOW + STATE_TTL)
        assert code_of(exc) is ErrorCode.INVALID_STATE


class TestConnectOrRenew:
    def test_a_free_shop_is_connected(self) -> None:
        shop, renewed = connect_or_renew(None, "m1", "Mine", Region.US, granted(), tokens(), NOW)
        assert (shop.merchant_id, shop.name, renewed) == ("m1", "Mine", False)

    def test_the_merchants_own_shop_is_renewed_under_the_name_typed_again(self) -> None:
        mine = Shop.connect("m1", "Old name", Region.US, granted(), tokens(NOW + timedelta(days=1)), NOW)
        shop, renewed = connect_or_renew(mine, "m1", "New name", Region.US, granted(), tokens(), NOW)
        assert shop is mine and renewed and shop.name == "New name" and shop.expires_at == NOW + timedelta(days=365)

    def test_another_merchants_shop_is_refused(self) -> None:
        theirs = Shop.connect("m2", "Theirs", Region.US, granted(), tokens(), NOW)
        with pytest.raises(DomainError) as exc:
            connect_or_renew(theirs, "m1", "Mine", Region.US, granted(), tokens(), NOW)
        assert code_of(exc) is ErrorCode.SHOP_ALREADY_CONNECTED and theirs.merchant_id == "m2"
