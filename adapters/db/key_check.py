"""The start-up check of SHOPBRIDGE_ENCRYPTION_KEY against the stored tokens: one row, one decryption.

A process deployed with the wrong key would otherwise only show it shop by shop (each loads REVOKED, one ERROR
line each, `adapters.db.repositories.shops`). The most recently authorized shop's tokens were encrypted with the
newest key any process used; when the configured keys cannot decrypt them, the operator most likely deployed the
wrong key, and is told so once, at WARNING, before merchants start re-authorizing.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from adapters.crypto import TokenCipher
from adapters.db.engine import Database
from adapters.db.tables import shops

logger = logging.getLogger(__name__)


async def warn_if_key_reads_no_tokens(db: Database, cipher: TokenCipher) -> bool:
    """False (after one WARNING line: the shop's id and the keys' fingerprints, nothing else) when the most recently
    authorized shop's tokens do not decrypt with `cipher`; True when they do, when there is no shop, or when the
    database cannot say yet (not migrated, unreachable: other checks report that)."""
    query = (
        select(shops.c.id, shops.c.refresh_token_encrypted)
        .order_by(shops.c.authorized_at.desc(), shops.c.id.desc())
        .limit(1)
    )
    try:
        async with db.read_sessionmaker() as session:
            row = (await session.execute(query)).first()
    except (DBAPIError, OSError):  # not migrated yet, or unreachable: /readyz and the schema gate say that
        return True
    if row is None or cipher.can_decrypt(row.refresh_token_encrypted):
        return True
    logger.warning(
        "SHOPBRIDGE_ENCRYPTION_KEY (keys: %s) does not decrypt the tokens of the most recently authorized shop (%s): "
        "if this process was deployed with the wrong key, stop it and deploy the right one (it may stay listed after "
        "the new one); if the key is lost, every shop it encrypted shows REVOKED and must be re-authorized",
        ", ".join(cipher.key_ids),
        row.id,
    )
    return False
