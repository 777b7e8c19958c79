"""A sans-IO decoder for ``text/event-stream``: bytes in, events out.

Follows the WHATWG event-stream rules: lines end with CR, LF or CRLF (and nothing else: a
U+2028 inside a JSON string is data, which is why we never call ``str.splitlines``); ``data``
lines of one event are joined with LF; a blank line dispatches; lines starting with ``:`` are
comments; one space after the colon is dropped. Line ends are ASCII bytes that never occur
inside a multi-byte UTF-8 sequence, so we split bytes first and decode whole lines: a character
split across reads needs no incremental decoder.

One leniency: ``close()`` dispatches a last event whose blank line never came (Azure ends
its stream with ``data: [DONE]\\n``).
"""

from __future__ import annotations

from typing import NamedTuple

from ._errors import ProtocolError

_BOM = b"\xef\xbb\xbf"


class ServerSentEvent(NamedTuple):
    """One dispatched event. ``event`` is ``"message"`` when the stream named none."""

    data: str
    event: str = "message"
    id: str | None = None


class SSEDecoder:
    """Feed it bytes with ``feed``; it returns the events those bytes completed."""

    __slots__ = ("_buffer", "_data", "_event", "_id", "_skip_lf", "_start", "comments")

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self._skip_lf = False  # the last byte seen was a CR: a following LF belongs to it
        self._start = True  # nothing seen yet: a leading byte-order mark is dropped
        self.comments = 0

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Decode ``chunk`` and return the events it completed, in order.

        Raises:
            ProtocolError: A line is not valid UTF-8.
        """
        if not chunk:
            return []
        if self._start:
            # The spec's UTF-8 decode drops one leading BOM, which may arrive split.
            head = self._buffer + chunk
            if len(head) < len(_BOM) and _BOM.startswith(head):
                self._buffer = head
                return []
            self._start = False
            self._buffer = b""
            chunk = head[len(_BOM) :] if head.startswith(_BOM) else head
            if not chunk:
                return []
        if (
            chunk[:6] == b"data: "
            and not (self._buffer or self._data or self._event or self._skip_lf)
            and chunk.find(b"\n") == len(chunk) - 2
            and chunk[-1:] == b"\n"
            and b"\r" not in chunk
        ):
            # Fast path for the common read: exactly one whole "data: ...\n\n" event.
            try:
                return [ServerSentEvent(chunk[6:-2].decode("utf-8"), "message", self._id)]
            except UnicodeDecodeError:
                pass  # the line-by-line path reports it with its position
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        buffer = self._buffer + chunk if self._buffer else chunk
        if b"\r" in buffer:
            lines, self._buffer, self._skip_lf = _split_any(buffer)
        else:
            lines = buffer.split(b"\n")
            self._buffer = lines.pop()
        events: list[ServerSentEvent] = []
        for line in lines:
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    def close(self) -> list[ServerSentEvent]:
        """End of input: dispatch what is pending (see the module's leniency note)."""
        events: list[ServerSentEvent] = []
        if self._buffer:
            event = self._line(self._buffer)
            self._buffer = b""
            if event is not None:
                events.append(event)
        if self._data:
            event = self._line(b"")
            if event is not None:
                events.append(event)
        return events

    @property
    def pending(self) -> bool:
        """True when bytes of an unfinished event are buffered."""
        return bool(self._buffer or self._data)

    def _line(self, raw: bytes) -> ServerSentEvent | None:
        if not raw:
            if not self._data:
                self._event = ""
                return None
            data = self._data[0] if len(self._data) == 1 else "\n".join(self._data)
            event = ServerSentEvent(data, self._event or "message", self._id)
            self._data = []
            self._event = ""
            return event
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(
                f"the event stream is not valid UTF-8 at byte {exc.start} of a line: "
                f"{raw[max(0, exc.start - 20) : exc.start + 20]!r}"
            ) from None
        if line.startswith("data:"):
            value = line[5:]
            self._data.append(value[1:] if value[:1] == " " else value)
            return None
        if line[0] == ":":
            self.comments += 1
            return None
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":  # "data" with no colon: an empty data line
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._id = value
        # "retry" and unknown fields are ignored, as the spec says.
        return None


def _split_any(buffer: bytes) -> tuple[list[bytes], bytes, bool]:
    """Split on CR, LF and CRLF; return lines, the unfinished rest, and whether it ended in CR."""
    lines: list[bytes] = []
    start = 0
    n = len(buffer)
    i = 0
    while i < n:
        byte = buffer[i]
        if byte == 0x0A:
            lines.append(buffer[start:i])
            start = i + 1
        elif byte == 0x0D:
            lines.append(buffer[start:i])
            if i + 1 == n:
                return lines, b"", True
            if buffer[i + 1] == 0x0A:
                i += 1
            start = i + 1
        i += 1
    return lines, buffer[start:], False
