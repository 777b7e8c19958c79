"""Figure 2: time to first token on a warm connection as the conversation grows.

Each round opens one session per client, warms it with two untimed turns, then plays
``turns`` turns; each turn appends the user message and the assistant's reply to that
client's history, so the request grows (about 10 KB of JSON by turn 50). Turns are
interleaved across clients (turn i of every client before turn i+1; ours and the floor
swap places every turn, peers after them: ``turn_order``), so machine noise hits them
alike. TTFT is ``perf_counter`` from just before the request to the first content item.
Quoted: the median of turns 1-10 and of turns 41-50, pooled over rounds.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

from _common import median, summary
from _spec import Spec

REPLY = Spec(chunks=20)
WINDOW = 10


def turn_order(names: list[str], turn: int) -> list[str]:
    """The clients' order in one turn: the first two (ours and the floor, the pair the rows
    judge) swap every turn and the others (peers) go after them.

    So in any ten turns each of the pair comes first, just after the last peer's turn, five
    times. A turn just after the openai SDK's is slower, the more so as the SDK's turns grow
    (5 to 16 ms by turn 50): rotating all three put ours after the SDK in two turns of three
    and the floor in one, which alone made ours' growth look 0.1-0.3 ms larger than the
    floor's. With two clients this is the rotation it replaced."""
    pair = names[:2] if turn % 2 == 0 else names[1::-1]
    return pair + names[2:]


async def ttft(
    makers: dict[str, Callable[[], Any]],
    turns: int,
    rounds: int,
    connections: Callable[[], int] | None = None,
) -> dict[str, Any]:
    """Per client: TTFT in ms for the first and last ``WINDOW`` turns, and all turns.

    ``connections`` (the server's count) checks the turns were warm: the connections opened
    during the timed turns of a round, all clients together, are reported (0 when warm).
    """
    samples: dict[str, list[list[float]]] = {name: [[] for _ in range(turns)] for name in makers}
    new_connections: list[int] = []
    for _ in range(rounds):
        async with AsyncExitStack() as stack:
            sessions = {}
            for name, make in makers.items():
                sessions[name] = await stack.enter_async_context(make())
                for _ in range(2):
                    await sessions[name].turn(REPLY, remember=False)
            names = list(sessions)
            before = connections() if connections else 0
            for i in range(turns):
                for name in turn_order(names, i):
                    turn = await sessions[name].turn(REPLY, remember=True, turn_no=i)
                    if turn.chunks != REPLY.chunks:
                        raise RuntimeError(f"{name}: got {turn.chunks} of {REPLY.chunks}")
                    samples[name][i].append(turn.ttft * 1e3)
            if connections:
                new_connections.append(connections() - before)
    out: dict[str, Any] = {}
    for name, per_turn in samples.items():
        first = [v for turn in per_turn[:WINDOW] for v in turn]
        last = [v for turn in per_turn[-WINDOW:] for v in turn]
        every = [v for turn in per_turn for v in turn]
        out[name] = {
            "first10_ms": summary(first),
            "last10_ms": summary(last),
            "all_ms": summary(every),
            "per_turn_ms": [median(turn) for turn in per_turn],
        }
    out["_new_connections_during_timed_turns"] = new_connections
    return out


def request_build_cost(base_url: str, turns: int, repeats: int = 300) -> dict[str, Any]:
    """What a turn costs before any I/O, at the first turn and after ``turns`` turns (µs).

    ours: ``llm.chat(ctx)`` (it builds the body and the httpx request; nothing is sent until
    the first item is awaited); floor: ``client.build_request(..., json=body)`` over the same
    messages as plain dicts. Deterministic CPU, so it shows what the noisy TTFT medians
    cannot: how much of the TTFT growth is ours.
    """
    import statistics
    import time

    import httpx
    from _common import API_KEY, SYSTEM

    from scoped_openai import ChatContext, ChatRole, OpenAILLM

    llm = OpenAILLM(api_key=API_KEY, base_url=base_url)
    llm._http_client()  # built, as a warm turn finds it (the first turn builds it at its start)
    client = httpx.AsyncClient()
    url = base_url + "/chat/completions"
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.SYSTEM, SYSTEM)
    messages = [{"role": "system", "content": SYSTEM}]

    def median_us(fn: Callable[[], object]) -> float:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return statistics.median(times) * 1e6

    def measure() -> dict[str, float]:
        body = {"model": "gpt-4o-mini", "messages": messages, "stream": True}
        llm._streams.clear()  # chat() registers each stream; none of these is ever run
        return {
            "ours": median_us(lambda: llm.chat(ctx)),
            "floor": median_us(lambda: client.build_request("POST", url, json=body)),
            "messages": len(messages),
        }

    out = {}
    for turn in range(turns + 1):
        if turn in (1, turns):
            out[f"turn_{turn}"] = measure()
        text = REPLY.user_text(turn)
        ctx.add_message(ChatRole.USER, text)
        ctx.add_message(ChatRole.ASSISTANT, "tok " * REPLY.chunks)
        messages += [
            {"role": "user", "content": text},
            {"role": "assistant", "content": "tok " * REPLY.chunks},
        ]
    llm._streams.clear()
    return out
