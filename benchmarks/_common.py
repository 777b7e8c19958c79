"""What every client under test returns, and the few statistics the figures use."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

#: The API key every client sends to the fake (it checks none).
API_KEY = "sk-bench-0000"
MODEL = "gpt-4o-mini"
SYSTEM = "You are a concise voice assistant. Answer in one or two short sentences."


@dataclass
class Turn:
    """One streamed reply, as the consumer saw it."""

    ttft: float  # seconds from just before the request to the first content item
    total: float  # seconds to the end of the iteration
    cpu: float  # process CPU seconds over the turn
    chunks: int  # content items received
    text: str = ""
    started: float = 0.0  # perf_counter() just before the request


@dataclass
class BargeIn:
    """One barge-in trial."""

    to_exit: float  # seconds from just before the cancel call to the consumer's loop exit
    to_next_token: float  # ... to the next turn's first content item
    heard: int  # content items before the cancel
    new_connections: int = -1  # connections the server saw open for the next turn
    warm_spare: bool | None = None  # WebSocket: the next turn went on the pre-opened spare
    extra: dict[str, Any] = field(default_factory=dict)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summary(values: list[float]) -> dict[str, Any]:
    """Median, min, max and count (the median is what is quoted)."""
    if not values:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def as_dict(obj: Any) -> dict[str, Any]:
    return asdict(obj)


def raise_fd_limit() -> None:
    """Lift the soft open-files limit to the hard one (1,000 sessions need 1,000+ sockets)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def rss_kb() -> int:
    """This process's resident set size now, in KiB (Linux)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0
