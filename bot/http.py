"""The HTTP connections to the Bot API: PTB's HTTPX requests, sharing one TLS context.

Every HTTPX client builds its own TLS context by default, reading the CA bundle again
(about 28 ms each, four per started bot); one context per process serves them all.
"""

from __future__ import annotations

import functools
import ssl

import certifi
from telegram.request import HTTPXRequest


@functools.cache
def _tls() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=certifi.where())


def bot_request(connection_pool_size: int = 1) -> HTTPXRequest:
    """A request object for a PTB ``Bot``, with ``connection_pool_size`` connections (one
    per request that may be on the wire at once)."""
    return HTTPXRequest(connection_pool_size=connection_pool_size, httpx_kwargs={"verify": _tls()})
