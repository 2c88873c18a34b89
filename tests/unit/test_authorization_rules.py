"""Pending OAuth requests (domain.authorization): what a start records, the state's digest, single use, expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.authorization import (
    ALREADY_USED,
    STATE_TTL,
    AuthorizationPurpose,
    AuthorizationRequest,
    TooManyAuthorizationsError,
    check_room,
    state_digest,
)
from domain.errors import DomainError, ErrorCode, ValidationErrors
from domain.inventory_push import InventoryPolicy
from domain.shops import Region

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def code_of(exc: pytest.ExceptionInfo[DomainError]) -> ErrorCode:
    return exc.value.code


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

    def test_a_connect_request_records_what_the_merchant_asked_for(self) -> None:
        request, state = AuthorizationRequest.start("m1", Region.SG, "  My SG shop ", True, NOW)
        assert (request.merchant_id, request.purpose, request.region, request.name, request.shop_id) == (
            "m1", AuthorizationPurpose.CONNECT, Region.SG, "My SG shop", None,
        )  # fmt: skip
        assert (request.created_at, request.expires_at, request.used_at) == (NOW, NOW + timedelta(minutes=30), None)
        assert len(state) == 43  # 32 bytes, URL-safe base64 without padding

    def test_a_connect_chooses_the_new_shops_stock_push_and_a_reauthorization_keeps_the_shops(self) -> None:
        # Add store's pushEnabled (decide62): false starts the new shop with push off; true (the default) stores nothing
        off, _ = AuthorizationRequest.start("m1", Region.MY, "Mine", True, NOW, push_enabled=False)
        assert off.push_enabled is False and off.starting_policy() == InventoryPolicy(push_enabled=False)
        on, _ = AuthorizationRequest.start("m1", Region.MY, "Mine", True, NOW)
        assert on.push_enabled is True and on.starting_policy() is None
        renew, _ = AuthorizationRequest.start_reauthorization("m1", "shop-1", Region.MY, "Mine", NOW)
        assert renew.push_enabled is None and renew.starting_policy() is None
        # null is refused on its field, after the other fields' refusals
        with pytest.raises(ValidationErrors) as refused:
            AuthorizationRequest.start("m1", None, "Mine", True, NOW, push_enabled=None)
        assert [(e.code, e.field) for e in refused.value.errors] == [
            (ErrorCode.UNSUPPORTED_REGION, ("region",)),
            (ErrorCode.INVALID_INPUT, ("pushEnabled",)),
        ]

    def test_a_reauthorization_request_names_the_shop(self) -> None:
        request, state = AuthorizationRequest.start_reauthorization("m1", "shop-1", Region.UK, "Mine", NOW)
        assert (request.merchant_id, request.purpose, request.region, request.name, request.shop_id) == (
            "m1", AuthorizationPurpose.REAUTHORIZE, Region.UK, "Mine", "shop-1",
        )  # fmt: skip
        assert (request.expires_at, request.state_digest) == (NOW + timedelta(minutes=30), state_digest(state))

    def test_the_state_is_stored_as_its_sha256_in_hex(self) -> None:
        # FIPS 180-2's sample: SHA-256("abc")
        assert state_digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

    @pytest.mark.parametrize(
        ("region", "confirmed", "code", "message", "field"),
        [
            (Region.US, False, ErrorCode.REGION_NOT_CONFIRMED,
             "Confirm that the shop is a local shop in a supported region (US, UK, MY, SG).", ("regionConfirmed",)),
            (None, False, ErrorCode.REGION_NOT_CONFIRMED,
             "Confirm that the shop is a local shop in a supported region (US, UK, MY, SG).", ("regionConfirmed",)),
            (None, True, ErrorCode.UNSUPPORTED_REGION, "Choose a supported region.", ("region",)),
        ],
    )  # fmt: skip
    def test_start_refusals_say_what_to_fix(
        self, region: Region | None, confirmed: bool, code: ErrorCode, message: str, field: tuple[str, ...]
    ) -> None:
        with pytest.raises(DomainError) as exc:
            AuthorizationRequest.start("m1", region, "Mine", confirmed, NOW)
        assert (exc.value.code, exc.value.message, exc.value.field) == (code, message, field)

    @pytest.mark.parametrize(
        ("region", "confirmed", "name", "fields"),
        [
            (Region.US, False, "", [("regionConfirmed", "REGION_NOT_CONFIRMED"), ("name", "INVALID_NAME")]),
            (None, True, "   ", [("region", "UNSUPPORTED_REGION"), ("name", "INVALID_NAME")]),
            (None, False, "\u0301",
             [("regionConfirmed", "REGION_NOT_CONFIRMED"), ("region", "UNSUPPORTED_REGION"), ("name", "INVALID_NAME")]),
        ],
        ids=["unconfirmed-and-empty-name", "no-region-and-blank-name", "all-three"],
    )  # fmt: skip
    def test_every_fields_refusal_is_told_at_once_the_first_as_before(
        self, region: Region | None, confirmed: bool, name: str, fields: list[tuple[str, str]]
    ) -> None:
        # when a start is refused on several fields at once
        with pytest.raises(ValidationErrors) as exc:
            AuthorizationRequest.start("m1", region, name, confirmed, NOW)
        # then each field's refusal is there, with its own code, in the order they are checked; and the error itself
        # is the first's, as a caller that tells one error told it before (before: the first alone)
        assert [(error.field[-1], error.code.value) for error in exc.value.errors if error.field] == fields
        assert (exc.value.code.value, exc.value.field) == (fields[0][1], (fields[0][0],))

    def test_the_name_is_checked_at_start(self) -> None:
        with pytest.raises(DomainError) as exc:
            AuthorizationRequest.start("m1", Region.US, "   ", True, NOW)
        assert (code_of(exc), exc.value.field) == (ErrorCode.INVALID_NAME, ("name",))

    def test_consumed_by_its_merchant_once_before_it_expires(self) -> None:
        request, _ = AuthorizationRequest.start("m1", Region.US, "Mine", True, NOW)
        later = NOW + timedelta(minutes=30) - timedelta(microseconds=1)
        request.consume(later, "m1")
        assert request.used_at == later
        with pytest.raises(DomainError) as exc:
            request.consume(later, "m1")
        assert (exc.value.code, exc.value.message, exc.value.field) == (
            ErrorCode.INVALID_STATE, ALREADY_USED, ("state",),
        )  # fmt: skip

    def test_an_expired_state_is_refused_in_words(self) -> None:
        request, _ = AuthorizationRequest.start("m1", Region.US, "Mine", True, NOW)
        with pytest.raises(DomainError) as exc:
            request.consume(NOW + timedelta(minutes=30))
        assert (exc.value.code, exc.value.message, exc.value.field) == (
            ErrorCode.INVALID_STATE, "This authorization link has expired; start again.", ("state",),
        )  # fmt: skip
        assert request.used_at is None

    def test_another_merchant_cannot_spend_the_state(self) -> None:
        request, _ = AuthorizationRequest.start("m1", Region.US, "Mine", True, NOW)
        with pytest.raises(DomainError) as exc:
            request.consume(NOW, "m2")
        assert (exc.value.code, exc.value.message, exc.value.field) == (
            ErrorCode.INVALID_STATE, "Unknown authorization state; start again.", ("state",),
        )  # fmt: skip
        assert request.used_at is None
        request.consume(NOW, "m1")  # still spendable by its own merchant

    def test_a_completed_request_answers_its_own_merchants_repeat_with_its_shop_even_after_expiry(self) -> None:
        """Rule (`AuthorizationRequest.completed_for`, review61 F4): only its merchant's repeat of a completion that
        connected a shop gets that shop; the state's expiry does not change it (nothing is spent again)."""
        request, _ = AuthorizationRequest.start("m1", Region.US, "Mine", True, NOW)
        request.consume(NOW, "m1")
        assert request.completed_for("m1") is None  # spent, not completed: refused as a used state
        request.completed_at, request.completed_shop_id = NOW, "shop-1"
        assert request.unexpired(NOW + STATE_TTL) is False
        assert (request.completed_for("m1"), request.completed_for("m2")) == ("shop-1", None)


class TestCheckRoom:
    def test_below_the_limit_any_start_passes(self) -> None:
        check_room([NOW + STATE_TTL, NOW + timedelta(minutes=1)], 3, NOW)

    def test_at_the_limit_it_says_when_the_oldest_counted_start_expires(self) -> None:
        # given five unexpired requests, newest first (a burst of concurrent starts may pass the limit of 3)
        expiries = [NOW + timedelta(minutes=m) for m in (29, 20, 10, 5, 1)]
        # when one more starts, then it is refused until the count falls below 3: the third newest's expiry
        with pytest.raises(TooManyAuthorizationsError) as refused:
            check_room(expiries[:3], 3, NOW)  # what the repository returns: the newest `limit`
        assert (refused.value.code, refused.value.field) == (ErrorCode.TOO_MANY_AUTHORIZATIONS, None)
        assert refused.value.retry_at == NOW + timedelta(minutes=10)
        assert refused.value.message == (
            "At most 3 authorizations (re-authorizations included) may be started within 30 minutes and left "
            "uncompleted: a pending, denied or failed one counts until 30 minutes after it started; completing one "
            "(a shop connected or renewed) frees its place. Try again in 600 seconds (at 2026-11-24T12:10:00Z)."
        )

    def test_past_ten_times_the_limit_completed_or_not_it_says_when_the_tenth_newest_expires(self) -> None:
        # given 30 unexpired starts, all completed (none left uncompleted), newest first: the limit of 3's ceiling
        every = [NOW + timedelta(minutes=29, seconds=-s) for s in range(30)]
        # when one more starts, then it is refused until the thirtieth newest expires, saying completed ones count
        with pytest.raises(TooManyAuthorizationsError) as refused:
            check_room([], 3, NOW, every)
        assert refused.value.retry_at == every[29]
        assert refused.value.message.startswith(
            "At most 30 authorizations (re-authorizations included) may be started within 30 minutes, completed or "
            "not: each counts until 30 minutes after it started. Try again in "
        )
        check_room([], 3, NOW, every[:29])  # below it, completed starts hold nothing back
