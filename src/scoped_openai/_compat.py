"""Every reach into a dependency's private names, in one place, each pinned by a test
(``tests/transports/test_compat.py``) that fails loudly if the dependency moves it.

- httpx's environment proxy rules (``HTTPS_PROXY``/``ALL_PROXY``/``NO_PROXY``, with curl's
  ``NO_PROXY`` matching): the WebSocket engine dials through the same proxy an
  ``httpx.AsyncClient(trust_env=True)`` would use for the same URL, so both paths of one
  ``OpenAILLM`` leave the machine the same way.
"""

from __future__ import annotations

import httpx
from httpx._utils import URLPattern, get_environment_proxies

__all__ = ["environment_proxy"]


def environment_proxy(url: str) -> str | None:
    """The proxy URL httpx would route ``url`` (``http``/``https``) through from the
    environment, or None for a direct connection."""
    target = httpx.URL(url)
    # httpx tries its mounts most specific first (URLPattern orders by priority).
    mounts = sorted(
        ((URLPattern(key), proxy) for key, proxy in get_environment_proxies().items()),
        key=lambda mount: mount[0],
    )
    for pattern, proxy in mounts:
        if pattern.matches(target):
            return proxy
    return None
