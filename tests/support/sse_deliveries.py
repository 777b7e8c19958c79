"""How an SSE body may arrive, for the tests that feed recorded or built bodies to a parser:
whole, byte by byte, in fixed steps, with CRLF or CR line ends, with comment lines."""

from __future__ import annotations

import re
from collections.abc import Callable


def in_steps(body: bytes, step: int | None) -> list[bytes]:
    """``body`` whole (``step`` None) or ``step`` bytes at a time."""
    if step is None:
        return [body]
    return [body[i : i + step] for i in range(0, len(body), step)]


def with_comments(body: bytes) -> bytes:
    commented = re.sub(rb"(?m)^data:", b": keep-alive\ndata:", body)
    return b": hello\n\n" + commented.replace(b"\n\n", b"\n\n: ping\n\n", 1)


#: Each variant of an LF-only body, as the pieces a server could send it in.
VARIANTS: dict[str, Callable[[bytes], list[bytes]]] = {
    "whole": lambda body: [body],
    "bytewise": lambda body: in_steps(body, 1),
    "crlf": lambda body: [body.replace(b"\n", b"\r\n")],
    "crlf-bytewise": lambda body: in_steps(body.replace(b"\n", b"\r\n"), 1),
    "cr": lambda body: [body.replace(b"\n", b"\r")],
    "cr-bytewise": lambda body: in_steps(body.replace(b"\n", b"\r"), 1),
    "comments": lambda body: [with_comments(body)],
    "comments-split5": lambda body: in_steps(with_comments(body), 5),
}
