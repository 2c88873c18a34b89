"""The process's one TLS context for its HTTP clients: `tls_context()`, built on first use, then shared."""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def tls_context() -> ssl.SSLContext:
    """httpx's default context (certificates verified against certifi's authorities), built once per process.

    An httpx client given no context builds its own, loading certifi's ~150 authorities: ~25 ms of CPU each time.
    A context is safe to share between clients, threads and event loops (aiohttp shares its default one too); it
    is read, never changed, once built.
    """
    return httpx.create_ssl_context()
