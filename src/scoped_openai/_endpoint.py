"""Where requests go and how they authenticate: OpenAI, OpenAI-compatible servers, Azure.

Secrets live only in the header dict handed to the transports; ``Endpoint.__repr__`` and
every error message leave them out. Azure users also put keys in ``extra_query``
(``?api-key=...``): reprs show every query value but ``api-version`` as ``***``, and the
names of the caller's query parameters are registered so the HTTP transport's log filter
masks them in httpx's INFO request line (``redact_url``).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import msgspec

OPENAI_BASE_URL = "https://api.openai.com/v1"
OPENAI_RESPONSES_WSS_URL = "wss://api.openai.com/v1/responses"
#: Query parameters that carry no secret, shown as they are.
PUBLIC_QUERY = frozenset({"api-version"})
REDACTED = "***"
#: Names of query parameters callers configured (``extra_query``), other than public ones:
#: the log filter masks their values in any URL it sees.
SECRET_QUERY_NAMES: set[str] = set()


def _shown(name: str, value: str, secret: Collection[str] | None) -> str:
    hidden = name in secret if secret is not None else name not in PUBLIC_QUERY
    return REDACTED if hidden else value


def redact_query(query: Mapping[str, str], secret: Collection[str] | None = None) -> dict[str, str]:
    """``query`` with the values of the ``secret`` names (by default: every name but
    ``PUBLIC_QUERY``) replaced by ``***``."""
    return {name: _shown(name, value, secret) for name, value in query.items()}


def redact_url(url: str, secret: Collection[str] | None = None) -> str:
    """``url`` with its query's values redacted as ``redact_query`` does."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = urlencode([(name, _shown(name, value, secret)) for name, value in pairs], safe="*")
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


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


class Endpoint(msgspec.Struct):  # a Struct: see _retry_plan.RetryPlan
    """URLs, query parameters and headers of one configured API.

    Attributes:
        chat_url: The Chat Completions URL.
        wss_url: The Responses WebSocket URL.
        responses_url: The Responses API's HTTP URL (``POST``, streamed as SSE), its query
            included (on Azure the v1 API takes no ``api-version``).
        query: Query parameters sent with every Chat Completions request (``api-version``
            on Azure).
        headers: Headers sent with every request, auth included.
    """

    chat_url: str
    wss_url: str
    responses_url: str
    query: dict[str, str] = msgspec.field(default_factory=dict)
    headers: dict[str, str] = msgspec.field(default_factory=dict)  # left out of __repr__

    def __post_init__(self) -> None:
        SECRET_QUERY_NAMES.update(name for name in self.query if name not in PUBLIC_QUERY)
        SECRET_QUERY_NAMES.update(
            name for name, _ in parse_qsl(urlsplit(self.wss_url).query) if name not in PUBLIC_QUERY
        )

    def __repr__(self) -> str:
        return (
            f"Endpoint(chat_url={redact_url(self.chat_url)!r}, "
            f"wss_url={redact_url(self.wss_url)!r}, "
            f"responses_url={redact_url(self.responses_url)!r}, "
            f"query={redact_query(self.query)!r})"
        )

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
        has_client: bool = False,
    ) -> Endpoint:
        """OpenAI or any server that speaks its API under ``base_url``, with the
        environment fallbacks of the reference and openai-python (``OPENAI_API_KEY``,
        ``OPENAI_BASE_URL``, ``OPENAI_ORG_ID``, ``OPENAI_PROJECT_ID``).

        Raises:
            ValueError: No key, no ``base_url`` and no client of the caller's
                (``has_client``: it may authenticate itself), or a ``base_url`` without a
                scheme.
        """
        api_key = api_key or os.getenv("OPENAI_API_KEY")
        base_url = base_url or os.getenv("OPENAI_BASE_URL") or None  # as openai-python
        check_base_url(base_url)
        if not api_key and not has_client and base_url is None:
            raise ValueError(
                "OpenAI API key must be provided either through the api_key parameter "
                "or the OPENAI_API_KEY environment variable (or pass base_url for an "
                "OpenAI-compatible server that needs none)"
            )
        organization = organization or os.getenv("OPENAI_ORG_ID")
        project = project or os.getenv("OPENAI_PROJECT_ID")
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
        return cls(
            f"{base}/chat/completions",
            wss_url,
            with_query(f"{base}/responses", extra_query),
            dict(extra_query or {}),
            headers,
        )

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
        responses = with_query(f"{root}/openai/v1/responses", extra_query)
        return cls(f"{base}/chat/completions", wss, responses, query, headers)


def check_base_url(base_url: str | None) -> None:
    """Refuse a base URL without its scheme now, not as a garbled URL at the first turn."""
    if base_url is not None and not base_url.lower().startswith(("http://", "https://")):
        raise ValueError(
            f"base_url must start with http:// or https:// (got {base_url!r}), "
            "e.g. http://localhost:8000/v1"
        )
