"""Where requests go and how they authenticate: OpenAI, OpenAI-compatible servers, Azure.

Secrets live only in the header dict handed to the transports; ``Endpoint.__repr__`` and
every error message leave them out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit, urlunsplit

OPENAI_BASE_URL = "https://api.openai.com/v1"
OPENAI_RESPONSES_WSS_URL = "wss://api.openai.com/v1/responses"


def websocket_url_for(base_url: str) -> str:
    """The Responses WebSocket URL of an HTTP base URL (``http``->``ws``, + ``/responses``)."""
    parts = urlsplit(base_url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    path = parts.path.rstrip("/") + "/responses"
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


def with_query(url: str, query: dict[str, str] | None) -> str:
    """``url`` with ``query`` appended to the query it may already have."""
    if not query:
        return url
    parts = urlsplit(url)
    joined = "&".join(part for part in (parts.query, urlencode(query)) if part)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, joined, parts.fragment))


@dataclass(slots=True)
class Endpoint:
    """URLs, query parameters and headers of one configured API.

    Attributes:
        chat_url: The Chat Completions URL.
        wss_url: The Responses WebSocket URL.
        query: Query parameters sent with every request (``api-version`` on Azure).
        headers: Headers sent with every request, auth included.
    """

    chat_url: str
    wss_url: str
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def openai(
        cls,
        *,
        api_key: str | None,
        base_url: str | None,
        wss_url: str | None,
        organization: str | None,
        project: str | None,
        extra_headers: dict[str, str] | None,
        extra_query: dict[str, str] | None,
    ) -> Endpoint:
        """OpenAI or any server that speaks its API under ``base_url``."""
        base = (base_url or OPENAI_BASE_URL).rstrip("/")
        if wss_url is None:
            wss_url = OPENAI_RESPONSES_WSS_URL if base_url is None else websocket_url_for(base)
        headers: dict[str, str] = {}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        if organization:
            headers["OpenAI-Organization"] = organization
        if project:
            headers["OpenAI-Project"] = project
        headers.update(extra_headers or {})
        wss_url = with_query(wss_url, extra_query)  # the handshake is a request too
        return cls(f"{base}/chat/completions", wss_url, dict(extra_query or {}), headers)

    @classmethod
    def azure(
        cls,
        *,
        azure_endpoint: str,
        azure_deployment: str,
        api_version: str | None,
        api_key: str | None,
        azure_ad_token: str | None,
        base_url: str | None,
        organization: str | None,
        project: str | None,
        extra_headers: dict[str, str] | None,
        extra_query: dict[str, str] | None,
    ) -> Endpoint:
        """Azure OpenAI: deployment URLs, ``api-version``, ``api-key`` or an AD token."""
        root = azure_endpoint.rstrip("/")
        base = (base_url or f"{root}/openai/deployments/{azure_deployment}").rstrip("/")
        query = {"api-version": api_version} if api_version else {}
        query.update(extra_query or {})
        headers: dict[str, str] = {}
        if api_key:
            headers["api-key"] = api_key
        elif azure_ad_token:
            headers["Authorization"] = f"Bearer {azure_ad_token}"
        if organization:
            headers["OpenAI-Organization"] = organization
        if project:
            headers["OpenAI-Project"] = project
        headers.update(extra_headers or {})
        # Azure serves the Responses API (and its WebSocket) under /openai/v1.
        # ``api-version`` is not sent there (the v1 API has none); the caller's query is.
        wss = with_query(websocket_url_for(f"{root}/openai/v1"), extra_query)
        return cls(f"{base}/chat/completions", wss, query, headers)
