"""Micro-benchmark: what a turn costs before any I/O as the conversation grows, on each HTTP
path, ours against the floor, at turn 1 and turn 50 of ``_fig_ttft``'s history.

ours: ``llm.chat(ctx)`` and the request the turn's plan builds (Chat Completions builds it in
``chat()``; the Responses paths build it at the first step, with the instance's input cache
and, with ``store=True``, its chain, which holds what a completed turn left on the server);
floor: ``client.build_request("POST", url, json=body)`` over the same messages as plain
dicts (``FloorResponsesHTTP``'s body: with ``responses-store`` only the messages added since
the last response, on ``previous_response_id``). CPU time, medians of ``--repeats`` (the
repeats of one turn find its items converted: a real turn also converts its two new items,
about 1 µs each); the
growth from turn 1 to turn 50 is what the TTFT growth rows compare, without the wall clock's
noise. Nothing is sent: the base URL points nowhere.

Run: ``python benchmarks/bench_request_build.py [--repeats 400]``; the same script measures
another tree with ``PYTHONPATH=<tree>/src``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import httpx
from _common import API_KEY, MODEL, SYSTEM
from _spec import Spec

from scoped_openai import ChatContext, ChatRole, OpenAILLM

REPLY = Spec(chunks=20)
TURNS = 50
BASE = "http://127.0.0.1:9/v1"
PATHS = ("http", "responses", "responses-store")


def median_cpu_us(build: Callable[[], object], repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.process_time()
        build()
        samples.append(time.process_time() - start)
    return statistics.median(samples) * 1e6


def one_path(path: str, repeats: int) -> dict[int, tuple[float, float]]:
    """Turn number -> (ours, floor) in µs, for turns 1 and ``TURNS``."""
    store = path == "responses-store"
    api = "chat" if path == "http" else "responses"
    llm = OpenAILLM(api_key=API_KEY, base_url=BASE, api=api, store=store)
    llm._http_client()  # built, as a warm turn finds it (the first turn builds it at its start)
    client = httpx.AsyncClient()
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.SYSTEM, SYSTEM)
    messages: list[dict[str, str]] = [{"role": "system", "content": SYSTEM}]
    previous: str | None = None
    held = 0  # messages the server holds under ``previous`` (the floor's chain)

    def ours() -> Any:
        stream = llm.chat(ctx)
        llm._streams.clear()  # chat() registers each stream; none of these is ever run
        if path != "http":  # the Responses request is built at the first step
            return stream._source._plan.request(None)  # type: ignore[attr-defined]
        return stream

    def floor() -> object:
        if path == "http":
            body: dict[str, Any] = {"model": MODEL, "messages": messages, "stream": True}
            return client.build_request("POST", BASE + "/chat/completions", json=body)
        body = {"model": MODEL, "input": messages, "stream": True, "store": store}
        if store and previous is not None:
            body["input"] = [m for m in messages[held:] if m["role"] != "assistant"]
            body["previous_response_id"] = previous
        return client.build_request("POST", BASE + "/responses", json=body)

    out = {}
    reply = "tok " * REPLY.chunks
    for turn in range(TURNS + 1):
        text = REPLY.user_text(turn)
        ctx.add_message(ChatRole.USER, text)
        messages.append({"role": "user", "content": text})
        if turn in (1, TURNS):
            out[turn] = (median_cpu_us(ours, repeats), median_cpu_us(floor, repeats))
        ours()
        if store:  # the turn completed: the server holds its input and the reply
            chain = llm._chains.shared
            assert chain is not None
            output = [
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": reply}],
                }
            ]
            chain.completed(chain.planned_input, output, f"resp_{turn}")
            previous, held = f"resp_{turn}", len(messages)
        ctx.add_message(ChatRole.ASSISTANT, reply)
        messages.append({"role": "assistant", "content": reply})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=400)
    args, _ = parser.parse_known_args()  # nox passes bench_client's flags too
    for path in PATHS:
        figures = one_path(path, args.repeats)
        (ours_1, floor_1), (ours_n, floor_n) = figures[1], figures[TURNS]
        print(
            f"{path:16s} ours {ours_1:6.1f} -> {ours_n:6.1f} µs (growth {ours_n - ours_1:+6.1f}); "
            f"floor {floor_1:6.1f} -> {floor_n:6.1f} (growth {floor_n - floor_1:+6.1f})"
        )


if __name__ == "__main__":
    main()
