"""TokenCipher: encrypts TikTok tokens at rest with Fernet; several comma-separated keys allow rotation.

The first key encrypts; every key decrypts (`MultiFernet`). Neither plaintext nor keys ever reach an exception
message or a log line.
"""

from __future__ import annotations

import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class TokenCipherError(ValueError):
    """A key is malformed, or a ciphertext was not made by any of the configured keys."""


class TokenCipher:
    """`encrypt(str) -> str` and `decrypt(str) -> str` with Fernet (AES-128-CBC + HMAC-SHA256, timestamped)."""

    def __init__(self, key: str) -> None:
        raw_keys = [part.strip() for part in key.split(",") if part.strip()]
        if not raw_keys:
            raise TokenCipherError("The encryption key is empty.")
        fernets: list[Fernet] = []
        for position, raw in enumerate(raw_keys, start=1):
            try:
                fernets.append(Fernet(raw.encode()))
            except (ValueError, TypeError):
                # Say which key is wrong, never what it contains.
                raise TokenCipherError(
                    f"Encryption key #{position} is not a urlsafe-base64 32-byte Fernet key."
                ) from None
        self._fernets = fernets
        self._fernet = MultiFernet(fernets)
        # What a log line may say about the keys: a short SHA-256 fingerprint each, newest first (never the key).
        self.key_ids = tuple(hashlib.sha256(raw.encode()).hexdigest()[:8] for raw in raw_keys)

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode("ascii")).decode()
        except (InvalidToken, UnicodeError):
            raise TokenCipherError("A stored token cannot be decrypted with the configured keys.") from None

    def can_decrypt(self, ciphertext: str) -> bool:
        """Whether one of the configured keys made `ciphertext` (its HMAC checks out); the plaintext is dropped."""
        try:
            self._fernet.decrypt(ciphertext.encode("ascii"))
        except (InvalidToken, UnicodeError):
            return False
        return True

    def is_current(self, ciphertext: str) -> bool:
        """Whether the first (encrypting) key made `ciphertext`: a rotation leaves it as it is."""
        try:
            self._fernets[0].decrypt(ciphertext.encode("ascii"))
        except (InvalidToken, UnicodeError):
            return False
        return True

    def rotate(self, ciphertext: str) -> str:
        """Re-encrypt under the first (newest) key, for a background key rotation."""
        try:
            return self._fernet.rotate(ciphertext.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError):
            raise TokenCipherError("A stored token cannot be decrypted with the configured keys.") from None

    def __repr__(self) -> str:
        return "TokenCipher(<keys hidden>)"
