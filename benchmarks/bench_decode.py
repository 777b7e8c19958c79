"""Benchmark: decoding one server payload into our events, end to end through the mapping.

Per typical payload (recorded from the real API: a Chat Completions text chunk with
``usage: null`` and ``obfuscation``, a Responses ``output_text.delta`` and a
``function_call_arguments.delta`` with ``sequence_number``/``logprobs``), CPU per call of:

- ``json.loads`` alone (the floor a plain client pays before any mapping);
- ``msgspec.json.decode`` alone, untyped (when msgspec is installed), for scale;
- the library: one Chat Completions SSE event's bytes -> events
  (``ChatCompletionsParser.feed``, the call a turn makes per read), a WebSocket frame ->
  events (``ResponsesParser.feed_frame``, which the WebSocket turn calls per frame), and
  one Responses SSE event's bytes, ``event:`` line included -> events
  (``ResponsesParser.feed``, per read of a Responses turn over HTTP; a tree without that
  path leaves the row out).

A tree from before the parsers gets the same work done the way it did it then (the SSE
decoder, the reply-size check and ``_transports.http._map_events``; the mapper's
``feed_json``, or ``json.loads`` then ``feed`` before msgspec), so the same script measures
either tree (``PYTHONPATH=<tree>/src python benchmarks/bench_decode.py``). Medians of
``--repeats`` runs of ``--calls`` calls each, with the floor measured in the same run.

Run: ``nox -s bench`` or ``python benchmarks/bench_decode.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from scoped_openai._events import Event
from scoped_openai._responses import ResponsesEventMapper

CHAT_CHUNK = (
    '{"id":"chatcmpl-Dx0Xq5Xx9rHB2ehcHZCRDsnuymUXc","object":"chat.completion.chunk",'
    '"created":1782955818,"model":"gpt-4o-mini-2024-07-18","service_tier":"default",'
    '"system_fingerprint":"fp_d0469e1700","choices":[{"index":0,"delta":{"content":" capital"},'
    '"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"oHb"}'
)
TEXT_DELTA = (
    '{"type":"response.output_text.delta","content_index":0,"delta":" capital",'
    '"item_id":"msg_0fabc13af1ee0049006a691dfebdc881a1ae18d027c313d8ce","logprobs":[],'
    '"obfuscation":"RvoJ43TaUvnCS8e","output_index":1,"sequence_number":6}'
)
ARGUMENTS_DELTA = (
    '{"type":"response.function_call_arguments.delta","delta":"{\\"country\\"",'
    '"item_id":"fc_0fabc13af1ee0049006a691e00a8c481a1b2b9d1d41d5a0e1d","obfuscation":"kq1",'
    '"output_index":2,"sequence_number":27}'
)


def per_call_us(fn: Callable[[], object], calls: int, repeats: int) -> float:
    """Median over ``repeats`` of the CPU per call, in µs."""
    runs = []
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(calls):
            fn()
        runs.append((time.process_time() - start) / calls * 1e6)
    return statistics.median(runs)


def _chat_feed() -> Callable[[bytes, list[Event]], object]:
    try:
        from scoped_openai._chat_completions import ChatCompletionsParser
    except ImportError:  # a tree from before the parser: what its HTTP source did per read
        from scoped_openai._limits import DEFAULT_LIMITS, reply_too_large
        from scoped_openai._sse import SSEDecoder
        from scoped_openai._transports.http import _map_events  # type: ignore[attr-defined]

        decoder = SSEDecoder(DEFAULT_LIMITS.max_event_bytes)
        received = 0

        def feed(data: bytes, out: list[Event]) -> bool:
            nonlocal received
            received += len(data)
            if received > DEFAULT_LIMITS.max_reply_bytes:
                raise reply_too_large(DEFAULT_LIMITS)
            events = decoder.feed(data)
            _map_events(events, out)
            return bool(events)

        return feed
    return ChatCompletionsParser().feed


def chat_call() -> Callable[[], object]:
    data = f"data: {CHAT_CHUNK}\n\n".encode()
    out: list[Event] = []
    feed = _chat_feed()
    sent = 0

    def call() -> None:
        nonlocal feed, sent
        sent += 1
        if sent == 100_000:  # a fresh turn before the reply-size limit
            feed, sent = _chat_feed(), 0
        feed(data, out)
        out.clear()

    return call


def frame_call(frame: str) -> Callable[[], object]:
    try:
        from scoped_openai._responses import ResponsesParser
    except ImportError:
        pass
    else:
        parser = ResponsesParser()
        out_: list[Event] = []
        sent = 0

        def parsed() -> None:
            nonlocal parser, sent
            sent += 1
            # The same delta fed 100,000 times would pass the reply and tool-arguments
            # limits, which a real turn rightly enforces: a fresh turn every 20,000 frames.
            if sent == 20_000:
                parser, sent = ResponsesParser(), 0
            parser.feed_frame(frame, out_)
            out_.clear()

        return parsed
    # A tree from before the parser: what its WebSocket turn did per frame (``_feed``): count
    # the reply, map with ``feed_json`` (msgspec; before it, ``json.loads`` then ``feed``),
    # look for the end.
    from scoped_openai._events import ResponseCompleted
    from scoped_openai._limits import DEFAULT_LIMITS, reply_too_large

    mapper = ResponsesEventMapper()
    feed_json = getattr(mapper, "feed_json", None)
    if feed_json is None:

        def feed_json(text: str, out: list[Event]) -> None:
            mapper.feed(json.loads(text), out)

    out: list[Event] = []
    received = calls = 0

    def call() -> None:
        nonlocal mapper, feed_json, received, calls
        calls += 1
        if calls == 20_000:
            mapper = ResponsesEventMapper()
            feed_json, received, calls = mapper.feed_json, 0, 0
        received += len(frame)
        if received > DEFAULT_LIMITS.max_reply_bytes:
            raise reply_too_large(DEFAULT_LIMITS)
        feed_json(frame, out)
        _ = bool(out) and type(out[-1]) is ResponseCompleted
        out.clear()

    return call


def sse_call(frame: str) -> Callable[[], object] | None:
    """``frame`` as the SSE event a Responses turn over HTTP reads, through
    ``ResponsesParser.feed`` (None in a tree without it)."""
    from scoped_openai._responses import ResponsesParser

    if not hasattr(ResponsesParser, "feed"):
        return None
    data = f"event: {json.loads(frame)['type']}\ndata: {frame}\n\n".encode()
    parser = ResponsesParser()
    out: list[Event] = []
    sent = 0

    def call() -> None:
        nonlocal parser, sent
        sent += 1
        if sent == 20_000:  # a fresh turn before the reply and tool-arguments limits
            parser, sent = ResponsesParser(), 0
        parser.feed(data, out)
        out.clear()

    return call


def measure(calls: int, repeats: int) -> dict[str, dict[str, float]]:
    try:
        import msgspec

        decode: Callable[[str], Any] | None = msgspec.json.decode
    except ImportError:
        decode = None
    rows: dict[str, dict[str, float]] = {}
    for name, payload, ours in (
        ("chat chunk", CHAT_CHUNK, chat_call()),
        ("responses text delta", TEXT_DELTA, frame_call(TEXT_DELTA)),
        ("responses arguments delta", ARGUMENTS_DELTA, frame_call(ARGUMENTS_DELTA)),
        ("responses text delta, SSE", TEXT_DELTA, sse_call(TEXT_DELTA)),
    ):
        if ours is None:
            continue
        row = {
            "json_loads_us": per_call_us(lambda p=payload: json.loads(p), calls, repeats),
            "ours_us": per_call_us(ours, calls, repeats),
        }
        if decode is not None:
            row["msgspec_untyped_us"] = per_call_us(lambda p=payload: decode(p), calls, repeats)
        row["ratio_to_json_loads"] = row["ours_us"] / row["json_loads_us"]
        rows[name] = row
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls (a smoke run)")
    parser.add_argument("--calls", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=7)
    args, _ = parser.parse_known_args()  # nox passes bench_client's flags too
    calls = 5_000 if args.quick else args.calls
    rows = measure(calls, 3 if args.quick else args.repeats)
    print("| payload | json.loads alone | msgspec alone (untyped) | ours, end to end | ratio |")
    print("|---|---|---|---|---|")
    for name, row in rows.items():
        untyped = row.get("msgspec_untyped_us")
        print(
            f"| {name} | {row['json_loads_us']:.2f} µs | "
            f"{'-' if untyped is None else f'{untyped:.2f} µs'} | {row['ours_us']:.2f} µs | "
            f"{row['ratio_to_json_loads']:.2f}x |"
        )


if __name__ == "__main__":
    main()
