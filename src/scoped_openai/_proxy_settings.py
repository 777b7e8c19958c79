"""Which proxy variable of the environment httpx cannot use, said as a ``UsageError``.

httpx reads ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY``/``NO_PROXY`` (either case) when it
builds a client, and the WebSocket engine reads the same rules (``_compat.environment_proxy``).
A value it cannot use (a URL it cannot parse, a scheme it does not know, a SOCKS proxy
without socksio) makes it raise ``httpx.InvalidURL``, ``ValueError`` or ``ImportError``,
none of which says which variable is wrong. This module is consulted only after such a
failure, so reading every variable again costs nothing on the ordinary path.

A bad variable is a ``UsageError``: the user's configuration must change; retrying, or
treating it as a connection failure, cannot help.
"""

from __future__ import annotations

import importlib.util
import os
import re
from urllib.request import getproxies

import httpx
from httpx._utils import URLPattern, get_environment_proxies

from ._errors import UsageError

__all__ = ["proxy_setting_error"]

#: What a proxy URL may carry before ``@`` (user and password): never shown.
_USERINFO = re.compile(r"//[^/@]*@")


def proxy_setting_error(*, socks: bool) -> UsageError | None:
    """The ``UsageError`` naming the proxy variable httpx cannot use, or None when every
    proxy variable is usable (then the failure being explained was not theirs).

    Args:
        socks: Also report a SOCKS proxy when socksio is not installed (httpx's own
            clients need it; the WebSocket engine does not use SOCKS at all).
    """
    try:
        mounts = get_environment_proxies()
    except ValueError as exc:  # a variable that is not text as urllib expects
        return UsageError(f"the proxy variables cannot be read: {_hidden(str(exc))}")
    for key, proxy in mounts.items():
        try:
            URLPattern(key)
            url = None if proxy is None else httpx.Proxy(url=proxy).url
        except (httpx.InvalidURL, ValueError) as exc:
            return _unusable("no" if proxy is None else key.removesuffix("://"), str(exc))
        if socks and url is not None and url.scheme.startswith("socks") and not _has_socksio():
            return _unusable(
                key.removesuffix("://"),
                "a SOCKS proxy needs the socksio package (pip install 'httpx[socks]')",
            )
    return None


def _has_socksio() -> bool:
    return importlib.util.find_spec("socksio") is not None


def _unusable(scheme: str, reason: str) -> UsageError:
    name = _variable(scheme)
    value = os.environ.get(name)
    shown = f"{name}={_hidden(value)!r}" if value is not None else f"the {scheme} proxy setting"
    return UsageError(f"{shown} is not a proxy setting httpx can use: {_hidden(reason)}")


def _variable(scheme: str) -> str:
    """The variable urllib took the ``scheme`` setting from: the lower-case one wins."""
    value = getproxies().get(scheme)
    lower = f"{scheme}_proxy"
    for name in (lower, *sorted(n for n in os.environ if n.lower() == lower)):
        if os.environ.get(name) == value:
            return name
    return lower.upper()


def _hidden(text: str) -> str:
    return _USERINFO.sub("//***@", text)
