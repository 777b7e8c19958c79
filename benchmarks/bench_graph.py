"""Benchmark: incremental spoken-field extraction vs. a naive re-scan-per-chunk baseline.

Run with ``python benchmarks/bench_graph.py``.  Stdlib only, plus the package (imported
from ``src`` when it is not installed).

For spoken replies of 1k, 10k and 100k characters delivered in 8-character chunks this
measures, in the same run:

* ours:  ``SpokenFieldExtractor.feed()`` for every chunk, then ``finish()``;
* naive: per chunk, append to the accumulated text, then re-scan it from the start to
  find the ``response_to_user`` key, find the end of its (possibly unfinished) string and
  decode everything available, emitting only the part not emitted before -- the shape of
  the reference implementation -- then ``json.loads`` at the end.

Both must produce the same spoken text and object (checked).  Reported times are the
median of 5 runs; the naive baseline is quadratic, so when one run of it is slow it gets
fewer repeats (stated in the output) to keep the whole benchmark well under a minute.
"""

from __future__ import annotations

import importlib.util
import json
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if importlib.util.find_spec("scoped_openai") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from scoped_openai._graph import SpokenFieldExtractor

CHUNK = 8
SIZES = (1_000, 10_000, 100_000)
REPEATS = 5
NAIVE_BUDGET_S = 8.0  # per size: time budget for the naive repeats

_KEY_RE = re.compile(r'"response_to_user"\s*:\s*"')
_PARTIAL_U_RE = re.compile(r"\\u[0-9a-fA-F]{0,3}\Z")


def _closing_quote(text: str, start: int) -> int:
    """Index of the unescaped quote closing the string that starts at ``start``, or -1."""
    i = start
    while True:
        j = text.find('"', i)
        if j < 0:
            return -1
        k = j
        while k > start and text[k - 1] == "\\":
            k -= 1
        if (j - k) % 2 == 0:
            return j
        i = j + 1


def _decode_partial(raw: str) -> str:
    """Decode the available prefix of a JSON string body, dropping an unfinished escape."""
    m = _PARTIAL_U_RE.search(raw)
    if m is not None:
        k = m.start()
        while k > 0 and raw[k - 1] == "\\":
            k -= 1
        if (m.start() - k) % 2 == 0:  # the "\u" itself is not escaped
            raw = raw[: m.start()]
    k = len(raw)
    while k > 0 and raw[k - 1] == "\\":
        k -= 1
    if (len(raw) - k) % 2 == 1:  # dangling backslash
        raw = raw[:-1]
    decoded: str = json.loads('"' + raw + '"')
    if decoded and "\ud800" <= decoded[-1] <= "\udbff":
        decoded = decoded[:-1]  # hold back a high surrogate
    return decoded


def naive(chunks: list[str]) -> tuple[str, dict[str, Any]]:
    acc = ""
    emitted = 0
    spoken: list[str] = []
    for chunk in chunks:
        acc += chunk
        m = _KEY_RE.search(acc)  # re-scan from the start every chunk
        if m is None:
            continue
        start = m.end()
        end = _closing_quote(acc, start)
        decoded = _decode_partial(acc[start:] if end < 0 else acc[start:end])
        if len(decoded) > emitted:
            spoken.append(decoded[emitted:])
            emitted = len(decoded)
    obj: dict[str, Any] = json.loads(acc)
    return "".join(spoken), obj


def ours(chunks: list[str]) -> tuple[str, dict[str, Any]]:
    ex = SpokenFieldExtractor()
    spoken = [ex.feed(c) for c in chunks]
    return "".join(spoken), ex.finish()


def make_reply(n: int) -> tuple[str, dict[str, Any]]:
    # Mostly prose, with quotes, newlines, non-ASCII and an astral character mixed in.
    unit = 'Sure! Your "booking" is set for Tuesday.\nCafé at 9 — see you there \U0001f600 '
    text = (unit * (n // len(unit) + 1))[:n]
    obj = {
        "response_to_user": text,
        "extracted_values": [
            {"key": "day", "value": "Tuesday"},
            {"key": "party_size", "value": 2},
            {"key": "confirmed", "value": True},
        ],
    }
    return json.dumps(obj, ensure_ascii=False), obj


def timed(fn: Callable[[list[str]], object], chunks: list[str], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(chunks)
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    print(f"Spoken-field extraction, {CHUNK}-char chunks, median of {REPEATS} runs")
    header = (
        f"{'spoken chars':>12} {'reply KB':>9} {'chunks':>7} {'ours ms':>9} {'naive ms':>10} "
        f"{'naive/ours':>10} {'ours µs/KB':>11} {'naive µs/KB':>12}  naive runs"
    )
    print(header)
    print("-" * len(header))
    notes = []
    for n in SIZES:
        s, obj = make_reply(n)
        chunks = [s[i : i + CHUNK] for i in range(0, len(s), CHUNK)]
        for fn in (ours, naive):  # correctness check (also warms up)
            spoken, parsed = fn(chunks)
            assert spoken == obj["response_to_user"], fn.__name__
            assert parsed == obj, fn.__name__
        t_ours = statistics.median(timed(ours, chunks, REPEATS))
        first = timed(naive, chunks, 1)
        naive_repeats = max(1, min(REPEATS, int(NAIVE_BUDGET_S / max(first[0], 1e-9))))
        t_naive = statistics.median(first + timed(naive, chunks, naive_repeats - 1))
        if naive_repeats < REPEATS:
            notes.append(
                f"{n} chars: naive baseline capped at {naive_repeats} run(s) "
                f"(one run took {first[0]:.2f} s; it is quadratic)"
            )
        kb = len(s.encode()) / 1024
        print(
            f"{n:>12,} {kb:>9.1f} {len(chunks):>7} {t_ours * 1e3:>9.2f} {t_naive * 1e3:>10.2f} "
            f"{t_naive / t_ours:>9.1f}x {t_ours * 1e6 / kb:>11.1f} {t_naive * 1e6 / kb:>12.1f}"
            f"  {naive_repeats}"
        )
    for note in notes:
        print("note:", note)


if __name__ == "__main__":
    main()
