"""One `SHOPBRIDGE_DATABASE_URL` for both PostgreSQL drivers: asyncpg (`serve`, `worker`) and psycopg2 (`migrate`).

SQLAlchemy hands a URL's query parameters to the driver as they are, and the two drivers name TLS differently:
libpq (psycopg2) takes `sslmode=require`, asyncpg's `connect()` takes `ssl=require` and died on `sslmode` with a
`TypeError` traceback at the first connection of `serve` and `worker`, while `migrate` refused `ssl` ("invalid
connection option"): no URL reached a PostgreSQL that requires TLS from every command (found running the README's
production recipe, 2026-12-04). Either name is accepted now, and each driver is given its own. Any other parameter
broke one of the two in the same way, so it is refused when the settings are read (`BAD_CONFIGURATION`); TLS files
go in libpq's environment variables, which both drivers read (`PGSSLROOTCERT`, `PGSSLCERT`, `PGSSLKEY`).
"""

from __future__ import annotations

from sqlalchemy.engine import make_url

# libpq's modes (postgresql.org/docs/current/libpq-ssl.html), which asyncpg's `ssl=` takes as the same strings.
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
# `host`: a Unix socket directory (`postgresql+asyncpg://user@/db?host=/var/run/postgresql`), read by both drivers.
QUERY_PARAMETERS = ("sslmode", "ssl", "host")
_TLS = ("sslmode", "ssl")


class PostgresUrlError(ValueError):
    """The URL cannot be given to both drivers; the message names what to change, never the password."""


def check(url: str) -> None:
    """Raise `PostgresUrlError` unless both drivers take `url`, a `postgresql+asyncpg://` URL: a port from 1 to 65535
    (a word there was a `ValueError` traceback from every command), query parameters among `QUERY_PARAMETERS`, the
    TLS mode once (`sslmode=` or `ssl=`, not both) and among `SSL_MODES`, and at most one `@` before the host (a
    password holding an unescaped one, `u:S3cret@PW@db/shop`, was read with `PW@db` for its host: the driver's
    "could not translate host name" error then printed the password's rest)."""
    authority = url.partition("://")[2].split("/", 1)[0].split("?", 1)[0]
    if authority.count("@") > 1:
        raise PostgresUrlError(
            "its user name or password holds an '@': percent-encode it as %40 (python -c 'import urllib.parse, "
            'sys; print(urllib.parse.quote(sys.argv[1], safe=""))\' PASSWORD)'
        )
    try:
        parsed = make_url(url)
    except ValueError as exc:  # a port that is no number: SQLAlchemy's int() of it
        raise PostgresUrlError(f"its port must be a number from 1 to 65535 ({exc})") from None
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        raise PostgresUrlError(f"its port must be a number from 1 to 65535, got {parsed.port}")
    for name, value in parsed.query.items():
        if name not in QUERY_PARAMETERS:
            raise PostgresUrlError(
                f"its query parameter {name!r} is not one both PostgreSQL drivers take (asyncpg for serve and "
                f"worker, psycopg2 for migrate); allowed: {', '.join(QUERY_PARAMETERS)}; TLS files go in "
                "PGSSLROOTCERT, PGSSLCERT and PGSSLKEY"
            )
        if name in _TLS and (isinstance(value, tuple) or value not in SSL_MODES):
            raise PostgresUrlError(f"its {name}= must be one of {', '.join(SSL_MODES)}, once, got {value!r}")
    if all(name in parsed.query for name in _TLS):
        raise PostgresUrlError("give the TLS mode once, as sslmode= (or ssl=), not both")


def for_asyncpg(url: str) -> str:
    """`url` with libpq's `sslmode=` renamed to asyncpg's `ssl=` (the same value); otherwise unchanged."""
    return _renamed(url, "sslmode", "ssl")


def for_psycopg2(url: str) -> str:
    """`url` with asyncpg's `ssl=` renamed to libpq's `sslmode=` (the same value); otherwise unchanged."""
    return _renamed(url, "ssl", "sslmode")


def _renamed(url: str, old: str, new: str) -> str:
    parsed = make_url(url)
    if old not in parsed.query:
        return url
    value = parsed.query[old]
    renamed = parsed.difference_update_query([old]).update_query_dict({new: value})
    return renamed.render_as_string(hide_password=False)
