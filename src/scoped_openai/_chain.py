"""``previous_response_id`` chaining: what the server holds for the last completed response,
and whether a turn may continue from it (``store``, the provable prefix, every call
answered). No I/O; the WebSocket turn asks it for a plan and reports the outcome.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

from ._chat import ChatItem
from ._responses_input import InputItem, InputItemCache, output_to_input_items


def _unanswered_calls(items: Sequence[InputItem], pending: frozenset[Any]) -> frozenset[Any]:
    """The call ids of the function_calls with no function_call_output after them, once
    ``items`` follow items that left ``pending`` unanswered (one pass over ``items``)."""
    unanswered = set(pending)
    for item in items:
        kind = item.get("type")
        if kind == "function_call":
            unanswered.add(item.get("call_id"))
        elif kind == "function_call_output":
            unanswered.discard(item.get("call_id"))
    return frozenset(unanswered)


def _canonical_json(text: Any) -> Any:
    """``text`` re-serialized with default spacing, or as is when it is not JSON text.

    Re-serializing (rather than comparing parsed values) keeps JSON types apart: Python's
    ``==`` would take ``true`` for ``1`` and ``1.0`` for ``1``.
    """
    if not isinstance(text, str):
        return text
    try:
        return json.dumps(json.loads(text))
    except ValueError:
        return text


def _same_call(mine: InputItem, theirs: InputItem) -> bool:
    """Whether two function calls differ only in how their arguments JSON is spelled.

    The model's arguments text (what the server holds) and a framework's
    ``json.dumps(parsed_arguments)`` (what VideoSDK records in its context) differ in
    spacing and escapes but carry the same call, so a turn after a tool call may chain.
    """
    if mine.get("type") != "function_call" or theirs.get("type") != "function_call":
        return False
    if mine.keys() != theirs.keys() or any(
        mine[key] != theirs[key] for key in mine if key != "arguments"
    ):
        return False
    return bool(_canonical_json(mine.get("arguments")) == _canonical_json(theirs.get("arguments")))


class TurnOutcome(Protocol):
    """What a turn's end tells the chain (the turn's ``Assembler``)."""

    @property
    def done(self) -> bool: ...
    @property
    def response_id(self) -> str | None: ...
    @property
    def output(self) -> Sequence[object]: ...


class ChainState:
    """What the server holds for the response we could continue from, and when to continue.

    ``response_id`` is the last *completed* response; ``server_items`` is everything the
    server holds for it, in our input-item shape: the full input it was sent (the items of
    the response it continued, plus the new ones) and its output converted by
    :func:`output_to_input_items` (reasoning items dropped, see there).

    :meth:`plan` chains (sends only the new suffix with ``previous_response_id``) only when
    the local context provably extends what the server holds: its items start with exactly
    ``server_items``, compared by content (a function call's arguments by their JSON value,
    types kept apart: ``{"a":1}`` matches ``{"a": 1}``, never ``{"a": true}``), and every
    function call in it has its output.
    Truncation, a summary replacing old items, an inserted or edited system prompt, an
    edited earlier message, same count but different content: all send the full context
    with no id. The cost is linear in the context size.

    Use: ``items, prev = chain.plan(ctx.items)``; send; on ``response.completed`` call
    ``chain.completed(chain.planned_input, output, response_id)``; on a barge-in
    :meth:`interrupted`; on ``response.failed``, ``response.incomplete``, an ``error`` frame
    (``previous_response_not_found`` included) :meth:`reset`. Where a chain lives (one per
    socket, or one for the instance) is :class:`ChainHome`'s rule.

    Args:
        store: Whether responses are stored (``store=True``). Without storage the server
            keeps a response only in the socket's connection-local cache, so no id
            survives its socket.
    """

    __slots__ = (
        "_held_unanswered",
        "_inputs",
        "_planned_unanswered",
        "interrupted_response_id",
        "planned_input",
        "response_id",
        "server_items",
        "store",
    )

    def __init__(self, *, store: bool = False) -> None:
        self.store = store
        self.response_id: str | None = None
        # Empty tuples, not lists, until a turn: a pool opens two sockets per instance (the
        # spare often serves no turn), and every list is an object the full collection walks.
        self.server_items: Sequence[InputItem] = ()
        self.planned_input: Sequence[InputItem] = ()
        """The full input of the last :meth:`plan` (whether or not it chained)."""
        self.interrupted_response_id: str | None = None
        """The last response abandoned by a barge-in (never chained from; for logs)."""
        #: A turn converts only the items new since the last (made by the first turn).
        self._inputs: InputItemCache | None = None
        # The calls left unanswered by the server_items list they were found for, and by
        # planned_input (None: not known), so a turn checks only its new items for them.
        self._held_unanswered: tuple[Sequence[InputItem], frozenset[Any]] | None = None
        self._planned_unanswered: frozenset[Any] | None = None

    def plan(
        self, items: Sequence[ChatItem], *, whole_context: bool = False
    ) -> tuple[list[InputItem], str | None]:
        """Decide what to send for a turn on ``items``.

        Args:
            items: The turn's context.
            whole_context: A resend after the server lost (or may have lost) what the chain
                continued from: forget the chain and send everything.

        Returns:
            ``(input_items, previous_response_id)``: the suffix after ``server_items`` and
            ``response_id`` when chaining is provably safe and there is something new to
            send; otherwise the whole context and None.
        """
        if whole_context:
            self.reset()
        inputs = self._inputs
        if inputs is None:
            inputs = self._inputs = InputItemCache()
        full = inputs.convert(items)
        self.planned_input = full
        self._planned_unanswered = None
        held = self.server_items
        if self.response_id is None or len(full) <= len(held):
            return full, None
        count = len(held)
        # Equal lists first (in C: the unchanged items are the very dicts that were sent),
        # then item by item, where a call's arguments may be spelled differently.
        if full[:count] != held:
            for mine, theirs in zip(full, held, strict=False):
                if mine is not theirs and mine != theirs and not _same_call(mine, theirs):
                    return full, None
        known = self._held_unanswered
        if known is not None and known[0] is held:
            held_unanswered = known[1]
        else:
            held_unanswered = _unanswered_calls(held, frozenset())
            self._held_unanswered = (held, held_unanswered)
        suffix = full[count:]
        # full is held and then suffix, so its unanswered calls follow from held's.
        self._planned_unanswered = unanswered = _unanswered_calls(suffix, held_unanswered)
        if unanswered:
            return full, None
        return suffix, self.response_id

    def turn_ended(
        self, sent_full_input: Sequence[InputItem], outcome: TurnOutcome, *, cancelled: bool
    ) -> None:
        """Record how a turn sent from ``sent_full_input`` ended, the same on every path: a
        completed response is the new base (:meth:`completed`), a barge-in is never chained
        from (:meth:`interrupted`), anything else resets the chain."""
        if outcome.done and outcome.response_id:
            self.completed(sent_full_input, outcome.output, outcome.response_id)
        elif cancelled:
            self.interrupted(outcome.response_id)
        else:
            self.reset()

    def completed(
        self, sent_full_input: Sequence[InputItem], output: Sequence[object], response_id: str
    ) -> None:
        """Record a completed turn: the server now holds ``sent_full_input`` + ``output``.

        Args:
            sent_full_input: The turn's *full* input (``planned_input``), not the suffix
                sent: with chaining the server prepends the previous items itself.
            output: The ``response.completed`` output items, as received.
            response_id: The completed response's id.

        Raises:
            ProtocolError: An output item is not a JSON object.
        """
        converted = output_to_input_items(output)
        self.server_items = [*sent_full_input, *converted]
        self.response_id = response_id
        planned = self._planned_unanswered
        if sent_full_input is not self.planned_input or planned is None:
            self._held_unanswered = None  # worked out when a turn needs it
        else:
            self._held_unanswered = (self.server_items, _unanswered_calls(converted, planned))

    def interrupted(
        self,
        response_id: str | None,
        spoken_text: str = "",
        sent_full_input: Sequence[InputItem] | None = None,
    ) -> None:
        """Record a barge-in on the response ``response_id``.

        That response is never chained from: the server holds what it generated (status
        incomplete or cancelled, or even completed later, since nothing cancels it), which
        is more than was spoken. The caller adds the text actually spoken
        (``spoken_text``) to its context as an assistant message; the next :meth:`plan`
        then sends it with the rest of the new suffix.

        With ``store=True`` the chain stays on the last *completed* response, which stays
        reachable from any socket, and :meth:`plan` still checks the context extends it.
        With ``store=False`` the barge-in retires the socket and its connection-local cache
        with it, so the chain is reset. ``spoken_text`` and ``sent_full_input`` are accepted
        for the caller's bookkeeping; neither is held as server state.
        """
        del spoken_text, sent_full_input  # deliberately not server state (see above)
        self.interrupted_response_id = response_id
        if not self.store:
            self.reset()

    def reset(self) -> None:
        """Forget the chain: the next turn sends the full context with no id."""
        self.response_id = None
        self.server_items = ()
        self._held_unanswered = None


class ChainHome:
    """Where chains live, by what the server keeps.

    With ``store=False`` the server keeps a response only in the socket's connection-local
    cache, so a chain is valid on one socket and dies with it: every new socket gets its
    own, empty chain. With ``store=True`` stored responses are reachable from any socket:
    every socket shares the instance's one chain.

    Args:
        store: Whether responses are stored (``store=True``).
    """

    __slots__ = ("_shared", "store")

    def __init__(self, *, store: bool) -> None:
        self.store = store
        self._shared = ChainState(store=True) if store else None

    @property
    def shared(self) -> ChainState | None:
        """The instance's one chain (``store=True``), which every path continues from;
        None without storage."""
        return self._shared

    def for_new_socket(self) -> ChainState:
        """The chain a turn on a newly opened socket continues from."""
        return self._shared if self._shared is not None else ChainState(store=False)
