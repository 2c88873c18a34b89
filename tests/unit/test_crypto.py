"""TokenCipher: round trip, no plaintext in the ciphertext, key rotation, and errors that reveal nothing."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from adapters.crypto import TokenCipher, TokenCipherError


def _key() -> str:
    return Fernet.generate_key().decode()


def test_a_token_round_trips_and_is_not_readable_at_rest() -> None:
    cipher = TokenCipher(_key())
    ciphertext = cipher.encrypt("ROW_secret-access-token")
    assert "secret" not in ciphertext
    assert cipher.decrypt(ciphertext) == "ROW_secret-access-token"
    assert cipher.encrypt("same") != cipher.encrypt("same")  # a fresh IV each time


def test_rotation_decrypts_with_old_keys_and_encrypts_with_the_first() -> None:
    old, new = _key(), _key()
    written_before = TokenCipher(old).encrypt("token")
    rotated = TokenCipher(f"{new}, {old}")
    assert rotated.decrypt(written_before) == "token"
    re_encrypted = rotated.rotate(written_before)
    assert TokenCipher(new).decrypt(re_encrypted) == "token"
    assert TokenCipher(new).decrypt(rotated.encrypt("fresh")) == "fresh"


def test_a_foreign_ciphertext_is_refused_without_revealing_anything() -> None:
    foreign = TokenCipher(_key()).encrypt("ROW_secret")
    with pytest.raises(TokenCipherError) as refused:
        TokenCipher(_key()).decrypt(foreign)
    assert "ROW_secret" not in str(refused.value)
    with pytest.raises(TokenCipherError):
        TokenCipher(_key()).decrypt("garbage")


@pytest.mark.parametrize("key", ["", " , ", "too-short", "é" * 44])
def test_a_malformed_key_is_refused_without_echoing_it(key: str) -> None:
    with pytest.raises(TokenCipherError) as refused:
        TokenCipher(key)
    if key.strip(" ,"):
        assert key not in str(refused.value)


def test_the_repr_hides_the_keys() -> None:
    key = _key()
    assert key not in repr(TokenCipher(key))
