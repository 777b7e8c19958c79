"""Where an ``openai.AsyncOpenAI`` / ``AsyncAzureOpenAI`` sends its requests, read by duck typing.

A plugin that replaces one built on the openai SDK accepts the SDK client its users already
pass (``client=openai.AsyncOpenAI(...)``). The library does not depend on the SDK, so it
reads the client's public attributes instead of importing it: ``base_url``, ``api_key``,
``organization``, ``project``, ``default_headers`` (the caller's own headers; the SDK's
``User-Agent``/``X-Stainless-*`` and its omitted placeholders are left out), ``default_query``
and ``auth_headers``. An Azure client is recognised by its ``api-version`` query and its
``/openai/`` base path, and becomes ``OpenAILLM.azure(...)`` settings (``api-key`` header or
AD token); a client that gets its AD token from a provider callable cannot be read
synchronously and is refused with a clear error.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = ["is_openai_sdk_client", "openai_client_settings"]

# Headers the SDK adds for itself on every request; not the caller's configuration.
_SDK_HEADERS = frozenset({"accept", "content-type", "user-agent"})
_SDK_HEADER_PREFIX = "x-stainless-"
# The SDK's placeholder for a client built without a key (Azure with an AD token).
_MISSING_KEY = "<missing API key>"


def is_openai_sdk_client(client: object) -> bool:
    """Whether ``client`` looks like an openai SDK async client (not an ``httpx.AsyncClient``)."""
    return all(hasattr(client, name) for name in ("base_url", "api_key", "default_headers", "chat"))


def _headers(client: Any) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in dict(client.default_headers).items():
        lower = name.lower()
        if not isinstance(value, str) or lower in _SDK_HEADERS:
            continue  # Omit/NotGiven placeholders, and the SDK's own content headers
        if lower.startswith(_SDK_HEADER_PREFIX):
            continue
        if lower in ("openai-organization", "openai-project"):
            continue  # passed as organization= / project=
        headers[name] = value
    return headers


def openai_client_settings(client: Any, *, model: str) -> tuple[str, dict[str, Any]]:
    """``("openai" | "azure", keyword arguments)`` for ``OpenAILLM`` / ``OpenAILLM.azure``.

    Args:
        client: An ``openai.AsyncOpenAI`` or ``openai.AsyncAzureOpenAI`` (duck typed).
        model: The configured model (the Azure deployment when the client names none).

    Raises:
        ValueError: The client's credentials cannot be read (an AD token provider).
    """
    base_url = str(client.base_url).rstrip("/")
    query = {str(k): str(v) for k, v in dict(getattr(client, "default_query", {}) or {}).items()}
    headers = _headers(client)
    organization = getattr(client, "organization", None) or None
    project = getattr(client, "project", None) or None
    parts = urlsplit(base_url)
    azure_at = parts.path.find("/openai")
    if "api-version" in query and azure_at >= 0:
        auth = dict(client.auth_headers)
        api_key = auth.get("api-key")
        bearer = auth.get("Authorization", "")
        token = bearer.removeprefix("Bearer ") if bearer.startswith("Bearer ") else None
        if not api_key and not token:
            raise ValueError(
                "this AsyncAzureOpenAI client gets its AD token from a provider callable, which "
                "cannot be read here: pass azure_ad_token= (or api_key=) to OpenAILLM.azure()"
            )
        endpoint = urlunsplit((parts.scheme, parts.netloc, parts.path[:azure_at], "", ""))
        tail = parts.path[azure_at:].split("/")  # ["", "openai", "deployments", name]
        deployment = tail[3] if len(tail) > 3 and tail[2] == "deployments" else model
        api_version = query.pop("api-version")
        return "azure", {
            "azure_endpoint": endpoint,
            "azure_deployment": deployment,
            "api_version": api_version,
            "api_key": api_key or None,
            "azure_ad_token": None if api_key else token,
            "organization": organization,
            "project": project,
            "extra_headers": headers or None,
            "extra_query": query or None,
        }
    api_key = client.api_key if client.api_key and client.api_key != _MISSING_KEY else None
    return "openai", {
        "api_key": api_key,
        "base_url": base_url,
        "organization": organization,
        "project": project,
        "extra_headers": headers or None,
        "extra_query": query or None,
    }
