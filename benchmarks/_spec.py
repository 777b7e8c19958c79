"""The reply spec: what the benchmark asks the fake server to send, carried in the request.

A client puts ``BENCH[chunks=20000 pace=0 stall=-1]`` in its user message; the server
(``_server.py``) finds the *last* such marker in the raw request body (a byte search, no JSON
parse, so a long history costs the server nothing per turn) and streams that reply.

Fields:
    chunks: content chunks in the reply (each one the text ``PIECE``).
    pace: chunks per second (0: as fast as the server can send).
    stall: after this many content chunks send nothing more, ever (-1: never stall).

Stdlib only: the reference plugin's script imports it from another virtualenv.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: The text of every content chunk (4 characters, about one token).
PIECE = "tok "

_MARKER = re.compile(rb"BENCH\[([^\]]*)\]")


@dataclass(frozen=True)
class Spec:
    """One reply shape."""

    chunks: int = 20
    pace: float = 0.0
    stall: int = -1

    def marker(self) -> str:
        """The text to put in the user message."""
        return f"BENCH[chunks={self.chunks} pace={self.pace:g} stall={self.stall}]"

    def user_text(self, turn: int = 0) -> str:
        """A user utterance of realistic length (about 120 characters) carrying the marker."""
        return (
            f"Turn {turn}: could you tell me a little more about that, and keep it short "
            f"please, I am driving. {self.marker()}"
        )


def parse(body: bytes) -> Spec:
    """The spec of the last marker in ``body`` (the defaults when there is none)."""
    matches = _MARKER.findall(body)
    if not matches:
        return Spec()
    fields: dict[str, str] = {}
    for pair in matches[-1].decode("ascii", "replace").split():
        key, _, value = pair.partition("=")
        fields[key] = value
    return Spec(
        chunks=int(fields.get("chunks", 20)),
        pace=float(fields.get("pace", 0)),
        stall=int(fields.get("stall", -1)),
    )
