"""Benchmark: decoding one server payload into our events, end to end through the mapping.

Per typical payload (recorded from the real API: a Chat Completions text chunk with
``usage: null`` and ``obfuscation``, a Responses ``output_text.delta`` and a
``function_call_arguments.delta`` with ``sequence_number``/``logprobs``), CPU per call of:

- ``json.loads`` alone (the floor a plain client pays before any mapping);
- ``msgspec.json.decode`` alone, untyped (when msgspec is installed), for scale;
- the library: Chat Completions SSE data -> events (``_transports.http._map_events``, the
  call a turn makes) and a WebSocket frame -> events (``ResponsesEventMapper.feed_json``,
  which the WebSocket turn calls per frame; before it, ``json.loads`` then ``feed``).

Both exist before and after the msgspec change, so the same script measures either tree
(``PYTHONPATH=<tree>/src python benchmarks/bench_decode.py``). Medians of
``--repeats`` runs of ``--calls`` calls each, with the floor measured in the same run.

Run: ``nox -s bench`` or ``python benchmarks/bench_decode.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from scoped_openai._events import Event
from scoped_openai._responses import ResponsesEventMapper
from scoped_openai._sse import ServerSentEvent
from scoped_openai._transports.http import _map_events

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


def chat_call() -> Callable[[], object]:
    batch = [ServerSentEvent(CHAT_CHUNK)]
    out: list[Event] = []

    def call() -> None:
        _map_events(batch, out)
        out.clear()

    return call


def frame_call(frame: str) -> Callable[[], object]:
    # The same arguments delta fed 100,000 times builds one call's arguments far past the
    # default 1 MiB tool-arguments limit, which a real turn would rightly refuse: the
    # benchmark measures decoding, so its mapper has no such limit.
    try:
        mapper = ResponsesEventMapper(max_arguments=sys.maxsize)
    except TypeError:  # a tree from before the limit existed
        mapper = ResponsesEventMapper()
    # What the WebSocket turn calls per frame: ``feed_json`` (msgspec); a tree from before
    # it decoded with ``json.loads`` and fed the dict, which is what the fallback does.
    feed_json = getattr(mapper, "feed_json", None)
    if feed_json is None:

        def feed_json(text: str, out: list[Event]) -> None:
            mapper.feed(json.loads(text), out)

    out: list[Event] = []

    def call() -> None:
        feed_json(frame, out)
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
    ):
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
