"""Benchmark: CPU to decode one SSE line that never ends, against a linear floor.

Run with ``python benchmarks/bench_sse_long_line.py`` (``--sizes 8,16`` for fewer). A
hostile server can send one ``data:`` line of many megabytes with no newline; a decoder
that joins its buffer on every read spends time quadratic in the line (issue 18 measured
0.7 / 2.0 / 8.0 / 29.6 s for 8 / 16 / 32 / 64 MB). This feeds 8 / 16 / 32 / 64 MB in the
64 KiB pieces httpx reads, then the newline, and reports process CPU seconds beside a
floor measured in the same run: keeping the pieces and joining them once (the least any
decoder must do). ``SSEDecoder`` runs with ``max_event_bytes`` above the line so the whole
line is decoded; with the default limit the turn ends at 16 MB with ``LimitExceededError``.

Then memory: 64 MB of ``data:`` lines with no blank line between them (one event that never
ends, which grew memory 1:1 with the wire) through a decoder with the default limits; the
peak traced by ``tracemalloc`` and where it stopped.

Medians of ``--repeats`` runs (default 3). Stdlib only, plus the package (from ``src``
when it is not installed; ``PYTHONPATH`` may point at another checkout to compare).
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

if importlib.util.find_spec("scoped_openai") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from scoped_openai._sse import SSEDecoder

PIECE = 64 * 1024
MB = 1024 * 1024


def _decoder() -> SSEDecoder:
    if "max_event_bytes" in inspect.signature(SSEDecoder).parameters:
        return SSEDecoder(max_event_bytes=1 << 40)  # type: ignore[call-arg, unused-ignore]
    return SSEDecoder()  # an older checkout: no limit to raise


def ours(size: int) -> float:
    piece = b"x" * PIECE
    decoder = _decoder()
    start = time.process_time()
    decoder.feed(b"data: ")
    for _ in range(size // PIECE):
        decoder.feed(piece)
    events = decoder.feed(b"\n\n")
    took = time.process_time() - start
    assert len(events) == 1
    assert len(events[0].data) == size
    return took


def floor(size: int) -> float:
    piece = b"x" * PIECE
    start = time.process_time()
    pieces = [b"data: "]
    for _ in range(size // PIECE):
        if b"\n" not in piece and b"\r" not in piece:
            pieces.append(piece)
    line = b"".join(pieces)
    data = line[6:].decode("utf-8")
    took = time.process_time() - start
    assert len(data) == size
    return took


def memory(total: int) -> tuple[int, int, str]:
    """Feed ``total`` bytes of data lines with no blank line: (bytes fed, peak, outcome)."""
    line = b"data: " + b"x" * 1000 + b"\n"
    piece = line * 64  # about 64 KB a read
    decoder = SSEDecoder()
    fed = 0
    outcome = "no error"
    tracemalloc.start()
    try:
        while fed < total:
            decoder.feed(piece)
            fed += len(piece)
    except Exception as exc:  # the limit, on a tree that has one
        outcome = type(exc).__name__
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return fed, peak, outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="8,16,32,64", help="line sizes in MB")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="8 and 16 MB, one run each")
    args = parser.parse_args()
    sizes = [8, 16] if args.quick else [int(s) for s in args.sizes.split(",")]
    repeats = 1 if args.quick else args.repeats
    print(
        f"SSE line with no newline, fed in {PIECE // 1024} KiB pieces; CPU s, median of {repeats}"
    )
    print(f"{'MB':>4} {'ours':>8} {'floor':>8} {'ratio':>7}")
    for mb in sizes:
        size = mb * MB
        o = statistics.median(ours(size) for _ in range(repeats))
        f = statistics.median(floor(size) for _ in range(repeats))
        print(f"{mb:>4} {o:>8.3f} {f:>8.3f} {o / f if f else float('nan'):>6.1f}x")
    fed, peak, outcome = memory(16 * MB if args.quick else 64 * MB)
    print(
        f"data lines with no blank line: fed {fed / MB:.1f} MB, peak traced memory "
        f"{peak / MB:.1f} MB, then: {outcome}"
    )


if __name__ == "__main__":
    main()
