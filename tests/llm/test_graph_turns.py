"""Conversational-graph turns end to end, on both paths, through the in-memory fake.

``chat(ctx, conversational_graph=graph)`` asks for a JSON reply in the graph's strict schema
(HTTP: ``response_format`` ``json_schema`` named ``conversational_graph_response``; WebSocket:
``text.format``) and, while the JSON streams in, yields only the spoken field's text, decoded
exactly; at the end one item carries ``metadata["graph_response"]``, the parsed object. A reply
that is not valid JSON falls back, as the reference does, to yielding the raw content, and an
``error`` event says why. A barge-in or a tool call in a graph turn behave as in any other turn.

Every test runs on every path (``path`` = ``"http"``, ``"ws"`` or ``"responses-http"``) and,
through anyio's plugin, on asyncio and trio; the timing test runs on trio's virtual clock.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio
import pytest
import trio
import trio.testing

from scoped_openai import (
    ChatContext,
    ChatStream,
    ConversationalGraph,
    LLMResponse,
    OpenAILLM,
    ProtocolError,
)
from scoped_openai.testing import FakeOpenAI, Reply, Stall, WSReply
from support.tools import WEATHER

MakeLLM = Callable[..., OpenAILLM]
#: Chat Completions over HTTP, the Responses API over a WebSocket and over HTTP.
PATHS = ["http", "ws", "responses-http"]
NO_GUARDS: dict[str, Any] = {"idle_timeout": None, "first_token_timeout": None}

#: The default graph schema, written out: what both paths must send, byte for byte.
DEFAULT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "response_to_user": {"type": "string", "description": "The response to say to the user"},
        "extracted_values": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "key": {"type": "string"},
                    "value": {
                        "anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]
                    },
                },
                "required": ["key", "value"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["response_to_user", "extracted_values"],
    "additionalProperties": False,
}

#: A custom graph whose spoken field is ``say``.
CUSTOM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "next_state": {"type": "string", "enum": ["greet", "ask_name", "done"]},
        "say": {"type": "string", "description": "Spoken aloud"},
        "slots": {
            "type": "object",
            "properties": {"name": {"type": ["string", "null"]}},
            "required": ["name"],
            "additionalProperties": False,
        },
    },
    "required": ["next_state", "say", "slots"],
    "additionalProperties": False,
}


# -- helpers ----------------------------------------------------------------------------------


def make(path: str, make_llm: MakeLLM, make_ws_llm: MakeLLM, **kwargs: Any) -> OpenAILLM:
    if path == "ws":
        return make_ws_llm(**kwargs)
    if path == "responses-http":
        return make_llm(api="responses", **kwargs)
    return make_llm(**kwargs)


def creates(fake: FakeOpenAI, path: str) -> list[dict[str, Any]]:
    """Each Responses turn's create body (a WebSocket frame, or a POST /responses body)."""
    if path == "ws":
        return [f for f in fake.ws_frames if f["type"] == "response.create"]
    return [r.json() for r in fake.requests if r.method == "POST"]


def script(fake: FakeOpenAI, path: str, pieces: list[str], **kwargs: Any) -> None:
    """Queue a reply streaming ``pieces`` as text deltas, on ``path``."""
    if path != "http":  # both Responses paths play the WebSocket's scripts
        fake.add_ws(WSReply.text(pieces, **kwargs))
    else:
        if kwargs.get("then") is None:
            kwargs.pop("then", None)
        fake.add(Reply.text(pieces, **kwargs))


def sent_formats(fake: FakeOpenAI, path: str) -> list[Any]:
    """What each turn sent as the graph's format (HTTP ``response_format``, WS ``text``)."""
    if path != "http":
        return [create.get("text") for create in creates(fake, path)]
    return [r.json().get("response_format") for r in fake.requests if r.method == "POST"]


def pieces_of(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


async def turn(
    llm: OpenAILLM, ctx: ChatContext, **kwargs: Any
) -> tuple[list[LLMResponse], BaseException | None, ChatStream]:
    """One whole turn: the items, the error that ended it (or None), the stream."""
    items: list[LLMResponse] = []
    async with llm.chat(ctx, **kwargs) as stream:
        try:
            async for item in stream:
                items.append(item)
        except Exception as exc:
            return items, exc, stream
    return items, None, stream


def spoken(items: list[LLMResponse]) -> str:
    return "".join(item.content for item in items)


def graph_items(items: list[LLMResponse]) -> list[LLMResponse]:
    return [item for item in items if item.graph_response is not None]


def check_graph_ending(items: list[LLMResponse], obj: dict[str, Any]) -> None:
    """Exactly one item carries the parsed object: the last one, with no content."""
    (last,) = graph_items(items)
    assert last is items[-1]
    assert last.content == ""
    assert last.graph_response == obj
    assert (last.metadata or {})["usage"] is (items[0].metadata or {})["usage"]  # shared
    assert last.usage is None  # the typed shortcut is on the usage item only


async def full_graph_turn(
    fake: FakeOpenAI, path: str, llm: OpenAILLM, ctx: ChatContext, text: str = "All good."
) -> None:
    obj = {"response_to_user": text, "extracted_values": [{"key": "k", "value": 1}]}
    script(fake, path, pieces_of(json.dumps(obj), 5))
    items, error, stream = await turn(llm, ctx, conversational_graph=ConversationalGraph())
    assert error is None
    assert spoken(items) == text
    check_graph_ending(items, obj)
    assert stream.cancelled is False


# -- (1) the request --------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("path", PATHS)
async def test_the_request_carries_the_default_graph_format(
    path: str, fake: FakeOpenAI, ctx: ChatContext, make_llm: MakeLLM, make_ws_llm: MakeLLM
) -> None:
    obj = {"response_to_user": "Hi.", "extracted_values": []}
    script(fake, path, [json.dumps(obj)])
    async with make(path, make_llm, make_ws_llm) as llm:
        items, error, _ = await turn(llm, ctx, conversational_graph=ConversationalGraph())
    assert error is None
    check_graph_ending(items, obj)
    if path == "http":
        assert sent_formats(fake, path) == [
            {
                "type": "json_schema",
                "json_schema": {
                    "name": "conversational_graph_response",
                    "strict": True,
                    "schema": DEFAULT_SCHEMA,
                },
            }
        ]
        (request,) = [r for r in fake.requests if r.method == "POST"]
        assert "text" not in request.json()  # the reference's crash: no text= on this path
    else:
        assert sent_formats(fake, path) == [
            {
                "format": {
                    "type": "json_schema",
                    "name": "conversational_graph_response",
                    "strict": True,
                    "schema": DEFAULT_SCHEMA,
                }
            }
        ]
        (create,) = creates(fake, path)
        assert "response_format" not in create


@pytest.mark.anyio
@pytest.mark.parametrize("path", PATHS)
async def test_the_request_carries_a_custom_graph_schema(
    path: str, fake: FakeOpenAI, ctx: ChatContext, make_llm: MakeLLM, make_ws_llm: MakeLLM
) -> None:
    graph = ConversationalGraph(CUSTOM_SCHEMA, spoken_field="say")
    obj = {"next_state": "ask_name", "say": "What is your name?", "slots": {"name": None}}
    script(fake, path, pieces_of(json.dumps(obj), 4))
    async with make(path, make_llm, make_ws_llm) as llm:
        items, error, _ = await turn(llm, ctx, conversational_graph=graph)
        # The format is sent per turn: a plain turn after it sends none.
        script(fake, path, ["plain"])
        plain, plain_error, _ = await turn(llm, ctx)
    assert error is None
    assert plain_error is None
    assert spoken(items) == "What is your name?"
    check_graph_ending(items, obj)
    assert spoken(plain) == "plain"
    assert graph_items(plain) == []
    if path == "http":
        assert sent_formats(fake, path) == [
            {
                "type": "json_schema",
                "json_schema": {
                    "name": "conversational_graph_response",
                    "strict": True,
                    "schema": CUSTOM_SCHEMA,
                },
            },
            None,
        ]
    else:
        assert sent_formats(fake, path) == [
            {
                "format": {
                    "type": "json_schema",
                    "name": "conversational_graph_response",
                    "strict": True,
                    "schema": CUSTOM_SCHEMA,
                }
            },
            None,
        ]


@pytest.mark.anyio
@pytest.mark.parametrize("path", PATHS)
async def test_a_reasoning_model_sends_the_graph_format_beside_verbosity(
    path: str, fake: FakeOpenAI, ctx: ChatContext, make_llm: MakeLLM, make_ws_llm: MakeLLM
) -> None:
    graph = ConversationalGraph()
    obj = {"response_to_user": "Hi.", "extracted_values": []}
    script(fake, path, [json.dumps(obj)])
    async with make(path, make_llm, make_ws_llm, model="gpt-5-mini", verbosity="low") as llm:
        items, error, _ = await turn(llm, ctx, conversational_graph=graph)
    assert error is None
    check_graph_ending(items, obj)
    if path == "http":
        (request,) = [r for r in fake.requests if r.method == "POST"]
        body = request.json()
        assert body["response_format"] == graph.response_format()
        assert body["verbosity"] == "low"
        assert "text" not in body
    else:
        (create,) = creates(fake, path)
        assert create["text"] == {"verbosity": "low", "format": graph.text_format()}


# -- (2) only the spoken field is spoken, decoded exactly -------------------------------------

SPOKEN_TEXTS = {
    "ascii": "Hello there, how can I help?",
    "escapes": 'Line one\nLine "two"\t\\ back/slash \r\b\f end',
    "unicode": "Café \u2013 naïve € 日本語 😀 👍🏽 \u2028 and 𝄞 done",
}
OTHER = "OTHER-FIELD-TEXT"


def graph_object(text: str, position: str) -> dict[str, Any]:
    if position == "first":
        return {
            "response_to_user": text,
            "extracted_values": [{"key": OTHER, "value": f'{OTHER} "q" {{}}'}],
        }
    # After other keys, with decoys: nested keys of the same name and strings full of JSON.
    return {
        "extracted_values": [
            {"key": "response_to_user", "value": f'{OTHER} {{"response_to_user": "x"}}'},
            {"key": "n", "value": 2.5},
            {"key": "b", "value": True},
        ],
        "meta": {"response_to_user": OTHER, "list": [[OTHER, {"a": "}]"}], "[{"]},
        "count": -12,
        "none": None,
        "response_to_user": text,
    }


def splittings(text: str, path: str) -> dict[str, Any]:
    """Ways to deliver ``text``: as deltas of 1, 3 and 7 characters, as deltas cut inside every
    escape (``\\uXXXX`` halves of surrogate pairs included) and, on HTTP, as 3-character
    deltas whose bytes arrive one at a time (multi-byte UTF-8 split across reads)."""
    cuts = [i for i in range(1, len(text)) if text[i - 1] == "\\" or text[i - 2 : i] == "\\u"]
    cuts += [i + 3 for i in range(len(text)) if text[i : i + 2] == "\\u"]
    points = sorted(set(cuts))
    at_escapes = [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]
    ways: dict[str, Any] = {
        "deltas1": pieces_of(text, 1),
        "deltas3": pieces_of(text, 3),
        "deltas7": pieces_of(text, 7),
        "escape-cuts": at_escapes,
    }
    if path == "http":
        ways["bytes1"] = "bytes1"
    return ways


@pytest.mark.anyio
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("position", ["first", "after"])
@pytest.mark.parametrize("which", list(SPOKEN_TEXTS))
async def test_only_the_spoken_field_is_yielded_decoded_exactly(
    path: str,
    position: str,
    which: str,
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_llm: MakeLLM,
    make_ws_llm: MakeLLM,
    errors: list[Exception],
) -> None:
    text = SPOKEN_TEXTS[which]
    obj = graph_object(text, position)
    graph = ConversationalGraph()
    async with make(path, make_llm, make_ws_llm) as llm:
        for ensure_ascii in (True, False):
            raw = json.dumps(obj, ensure_ascii=ensure_ascii)
            if ensure_ascii and which == "unicode":
                assert "\\ud83d\\ude00" in raw  # surrogate pairs, escaped
            for name, pieces in splittings(raw, path).items():
                if pieces == "bytes1":
                    body = b"".join(s for s in Reply.text(pieces_of(raw, 3)).steps)  # type: ignore[misc]
                    fake.add(Reply.raw(body, split=1))
                else:
                    script(fake, path, pieces)
                items, error, stream = await turn(llm, ctx, conversational_graph=graph)
                where = f"{name}, ensure_ascii={ensure_ascii}"
                assert error is None, where
                assert spoken(items) == text, where
                assert OTHER not in spoken(items), where
                assert stream.assembler.spoken == text, where
                check_graph_ending(items, obj)
                # Spoken as it streams: several items when the deltas are small.
                if name == "deltas1":
                    assert len([i for i in items if i.content]) > 1, where
    assert errors == []
    assert fake.counters.open_bodies == 0


@pytest.mark.trio
@pytest.mark.parametrize("path", PATHS)
async def test_the_spoken_text_arrives_while_the_json_streams_in(
    path: str,
    autojump_clock: trio.testing.MockClock,
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_llm: MakeLLM,
    make_ws_llm: MakeLLM,
) -> None:
    text = "One two three four five six seven."
    obj = {"extracted_values": [{"key": "a", "value": "b"}], "response_to_user": text}
    raw = json.dumps(obj)
    pieces = pieces_of(raw, 4)
    script(fake, path, pieces, delay=1.0)  # piece n (from 1) is sent at t = n seconds
    timed: list[tuple[float, str]] = []
    async with make(path, make_llm, make_ws_llm, **NO_GUARDS) as llm:
        start = trio.current_time()
        async with llm.chat(ctx, conversational_graph=ConversationalGraph()) as stream:
            async for item in stream:
                timed.append((trio.current_time() - start, item.content))
    assert "".join(content for _, content in timed) == text
    # Each word is heard as soon as its piece arrived: at time t, exactly the part of the value
    # within the first t pieces has been spoken (the value is plain ASCII: no escapes).
    start_of_value = raw.index(text)
    heard = ""
    for at, content in timed:
        heard += content
        if content:
            arrived = 4 * round(at)
            assert heard == text[: max(0, arrived - start_of_value)], (at, heard)
    spoken_times = [at for at, content in timed if content]
    assert spoken_times[0] == start_of_value // 4 + 1  # the piece with its first character
    assert len(set(spoken_times)) > 3  # spread over the stream, not released at the end
    assert timed[-1][0] >= len(pieces)  # the graph object only once everything arrived


# -- (3) invalid or truncated JSON: the raw content, and an error event ----------------------

BAD_REPLIES = {
    # name: (raw reply, what the extractor speaks before the stream ends)
    "invalid": ('{"response_to_user": "Hi there", "extracted_values": [oops]}', "Hi there"),
    "truncated": ('{"response_to_user": "Hi the', "Hi the"),
    "not-json": ("Hello there, friend.", ""),
    "trailing-garbage": ('{"response_to_user": "Hi", "extracted_values": []} and more', "Hi"),
    "unterminated-escape": ('{"response_to_user": "caf\\u00e', "caf"),
}


@pytest.mark.anyio
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("which", list(BAD_REPLIES))
async def test_invalid_json_falls_back_to_the_raw_content_and_an_error_event(
    path: str,
    which: str,
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_llm: MakeLLM,
    make_ws_llm: MakeLLM,
    errors: list[Exception],
) -> None:
    raw, streamed = BAD_REPLIES[which]
    if path == "http" and which == "truncated":
        fake.add(Reply.text(pieces_of(raw, 3), finish_reason="length"))
    else:
        script(fake, path, pieces_of(raw, 3))
    async with make(path, make_llm, make_ws_llm) as llm:
        items, error, stream = await turn(llm, ctx, conversational_graph=ConversationalGraph())
        assert error is None  # not raised: the reference's fallback
        assert graph_items(items) == []
        assert items[-1].content == raw  # the raw reply, whole, in one item, last
        assert spoken(items) == streamed + raw
        assert stream.assembler.done is True
        (event,) = errors
        assert isinstance(event, ProtocolError)
        assert "not valid JSON" in str(event)
        # The next turn is an ordinary one.
        errors.clear()
        await full_graph_turn(fake, path, llm, ctx)
    assert errors == []


@pytest.mark.anyio
@pytest.mark.parametrize("path", PATHS)
async def test_a_graph_turn_with_no_text_yields_no_graph_item_and_no_error(
    path: str,
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_llm: MakeLLM,
    make_ws_llm: MakeLLM,
    errors: list[Exception],
) -> None:
    script(fake, path, [])
    async with make(path, make_llm, make_ws_llm) as llm:
        items, error, _ = await turn(llm, ctx, conversational_graph=ConversationalGraph())
    assert error is None
    assert spoken(items) == ""
    assert graph_items(items) == []
    assert errors == []


# -- (4) barge-in and tool calls, as in any other turn ----------------------------------------

LONG = "Sure. First, open the app. Then tap settings. Then choose privacy. Done."


@pytest.mark.anyio
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("position", ["first", "after"])
async def test_barge_in_mid_field_from_the_consumer(
    path: str,
    position: str,
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_llm: MakeLLM,
    make_ws_llm: MakeLLM,
    errors: list[Exception],
) -> None:
    obj = graph_object(LONG, position)
    script(fake, path, pieces_of(json.dumps(obj), 4))
    heard: list[LLMResponse] = []
    async with make(path, make_llm, make_ws_llm) as llm:
        with anyio.fail_after(5):
            async with llm.chat(ctx, conversational_graph=ConversationalGraph()) as stream:
                async for item in stream:
                    heard.append(item)
                    if len([i for i in heard if i.content]) == 3:
                        await llm.cancel_current_generation()
            assert stream.cancelled is True
            said = spoken(heard)
            assert len([i for i in heard if i.content]) == 3  # nothing after the barge-in
            assert LONG.startswith(said)
            assert 0 < len(said) < len(LONG)
            assert graph_items(heard) == []  # no object, and no raw fallback either
            assert stream.assembler.spoken == said
            assert errors == []
            await full_graph_turn(fake, path, llm, ctx, "Next turn.")
    assert errors == []
    assert fake.counters.open_bodies == 0
    assert fake.ws_open == 0


@pytest.mark.anyio
@pytest.mark.parametrize("path", PATHS)
async def test_barge_in_mid_field_while_the_server_is_silent(
    path: str,
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_llm: MakeLLM,
    make_ws_llm: MakeLLM,
    errors: list[Exception],
) -> None:
    raw = json.dumps({"response_to_user": LONG, "extracted_values": []})
    cut = raw.index("tap")  # the server stalls in the middle of the spoken value
    script(fake, path, pieces_of(raw[:cut], 6), then=[Stall()])
    heard: list[str] = []
    first = anyio.Event()
    ended = anyio.Event()
    holder: list[ChatStream] = []

    async def consume(llm: OpenAILLM) -> None:
        try:
            async with llm.chat(ctx, conversational_graph=ConversationalGraph()) as stream:
                holder.append(stream)
                async for item in stream:
                    heard.append(item.content)
                    first.set()
        finally:
            ended.set()

    async with make(path, make_llm, make_ws_llm, **NO_GUARDS) as llm:
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(consume, llm)
                await first.wait()
                await anyio.wait_all_tasks_blocked()  # every piece sent was heard
                assert "".join(heard) == LONG[: LONG.index("tap")]
                await llm.cancel_current_generation()
                await ended.wait()
            (stream,) = holder
            assert stream.cancelled is True
            assert "".join(heard) == LONG[: LONG.index("tap")]
            assert errors == []
            await full_graph_turn(fake, path, llm, ctx, "Next turn.")
    assert errors == []
    assert fake.counters.open_bodies == 0
    assert fake.ws_open == 0


@pytest.mark.anyio
@pytest.mark.parametrize("path", PATHS)
async def test_a_tool_call_alongside_a_graph_reply(
    path: str,
    fake: FakeOpenAI,
    ctx: ChatContext,
    make_llm: MakeLLM,
    make_ws_llm: MakeLLM,
    errors: list[Exception],
) -> None:
    obj = {"response_to_user": "Let me check the weather.", "extracted_values": []}
    call = ("call_1", "get_weather", '{"city": "Paris"}')
    if path != "http":
        fake.add_ws(WSReply.function_calls(call, text=json.dumps(obj)))
    else:
        fake.add(Reply.tool_calls(call, text=json.dumps(obj), fragment_size=3))
    graph = ConversationalGraph()
    async with make(path, make_llm, make_ws_llm) as llm:
        items, error, stream = await turn(llm, ctx, tools=[WEATHER], conversational_graph=graph)
        assert error is None
        assert spoken(items) == "Let me check the weather."
        assert [i.function_call for i in items if i.function_call] == [
            {"name": "get_weather", "arguments": {"city": "Paris"}, "id": "call_1"}
        ]
        check_graph_ending(items, obj)
        assert stream.assembler.calls == [call]
        # A tool-call-only graph turn: the call, and no graph object (there is no JSON).
        if path != "http":
            fake.add_ws(WSReply.function_calls(call))
        else:
            fake.add(Reply.tool_calls(call))
        items, error, _ = await turn(llm, ctx, tools=[WEATHER], conversational_graph=graph)
        assert error is None
        assert [i.function_call for i in items if i.function_call] == [
            {"name": "get_weather", "arguments": {"city": "Paris"}, "id": "call_1"}
        ]
        assert spoken(items) == ""
        assert graph_items(items) == []
    assert errors == []
    if path == "http":
        body = next(r for r in fake.requests if r.method == "POST").json()
        assert body["response_format"] == graph.response_format()
        assert [t["function"]["name"] for t in body["tools"]] == ["get_weather"]
    else:
        create = creates(fake, path)[0]
        assert create["text"] == {"format": graph.text_format()}
        assert [t["name"] for t in create["tools"]] == ["get_weather"]
