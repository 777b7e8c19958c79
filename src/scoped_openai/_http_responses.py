"""The Responses API over HTTP (``OpenAILLM(api="responses")``): the plan of its turns.

Each turn is ``POST {base_url}/responses`` with ``stream: true``: the body is the WebSocket
path's ``response.create`` without its ``type`` (``_responses_request``), the answer is the
same server events as Server-Sent Events, read by the same ``ResponsesParser`` behind the
generic ``HTTPTurn``.

Chaining follows the WebSocket path's rule (``_chain``): with ``store=True`` a turn sends
only the new items with ``previous_response_id`` when the server provably holds the prefix
and every call has its output; with ``store=False`` the server keeps nothing between HTTP
requests (there is no connection-local cache over HTTP), so every turn sends the whole
context. A ``previous_response_not_found`` (an HTTP 400 before the stream, or an ``error``
event in it) resends once with the whole context; the other transient failures are resent
as on Chat Completions (``max_retries``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from ._assembly import Assembler
from ._chain import ChainState
from ._chat import ChatItem
from ._endpoint import Endpoint
from ._errors import APIError
from ._graph import ConversationalGraph
from ._http_turn import HTTPOptions, backoff_delay, is_retryable, post_event_stream
from ._responses import ResponsesParser
from ._responses_input import InputItem, InputItemCache
from ._responses_request import build_create_event
from ._retry_plan import RetryPlan
from ._settings import GenerationSettings
from ._tools import FunctionTool

#: The API's code for a ``previous_response_id`` it does not hold (any more).
CHAIN_LOST = "previous_response_not_found"


class ResponsesHTTPPlan:
    """``POST /responses``: what each attempt sends (chained when safe), when to resend, and
    what the turn's end records in the chain.

    Args:
        client: The llm's HTTP client (builds the request).
        endpoint: Where ``responses_url`` points, with the headers.
        settings: The generation settings.
        items: The turn's context.
        chain: The instance's chain (``store=True``), or None: every turn sends the whole
            context.
        inputs: Converts the context when ``chain`` is None (the llm's, so a turn converts
            only the items that are new since its last).
        tools, graph, overrides: As ``OpenAILLM.chat`` takes them.
        options: How the llm runs HTTP turns (retries, limits).
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        endpoint: Endpoint,
        settings: GenerationSettings,
        items: Sequence[ChatItem],
        *,
        chain: ChainState | None,
        inputs: InputItemCache,
        tools: Sequence[FunctionTool] | None,
        graph: ConversationalGraph | None,
        overrides: Mapping[str, Any] | None,
        options: HTTPOptions,
    ) -> None:
        self._client = client
        self._endpoint = endpoint
        self._settings = settings
        self._items = list(items)
        self._chain = chain
        self._inputs = inputs
        self._tools = tools
        self._graph = graph
        self._overrides = overrides
        self._options = options
        self._full_input: Sequence[InputItem] = ()
        self._sent = False
        self.chained = False

    def request(self, retry: RetryPlan | None) -> httpx.Request:
        """The next attempt's request: chained when the chain allows it, else (and on a
        resend that asks for it) the whole context."""
        chain = self._chain
        if chain is None:
            self._full_input = self._inputs.convert(self._items)
            input_items, previous = self._full_input, None
        else:
            whole = retry is not None and retry.full_context  # the server lost the chain
            input_items, previous = chain.plan(self._items, whole_context=whole)
            self._full_input = chain.planned_input
        self.chained = previous is not None
        body = build_create_event(
            self._settings,
            input_items,
            tools=self._tools,
            graph=self._graph,
            previous_response_id=previous,
            overrides=self._overrides,
        )
        del body["type"]  # a WebSocket frame's field; the HTTP body is the create's fields
        body["stream"] = True  # after the merge: this path only streams
        self._sent = True
        endpoint = self._endpoint
        return post_event_stream(self._client, endpoint.responses_url, endpoint, body, query=False)

    def parser(self) -> ResponsesParser:
        return ResponsesParser(self._options.limits)

    def plan_retry(self, error: Exception, attempt: int) -> RetryPlan | None:
        """Resend once, at once, with the whole context after a lost chain; transient
        failures as on Chat Completions (``max_retries``, backoff). Changes nothing."""
        if self.chained and isinstance(error, APIError) and error.code == CHAIN_LOST:
            return RetryPlan(0.0, full_context=True) if attempt == 0 else None
        if attempt >= self._options.max_retries or not is_retryable(error):
            return None
        return RetryPlan(backoff_delay(attempt, error))

    def turn_ended(self, assembler: Assembler, *, cancelled: bool) -> None:
        """A completed response is the chain's new base; anything else is not."""
        if self._chain is not None and self._sent:
            self._chain.turn_ended(self._full_input, assembler, cancelled=cancelled)
