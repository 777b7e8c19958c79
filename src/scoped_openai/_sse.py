"""A sans-IO decoder for ``text/event-stream``: bytes in, events out.

Follows the WHATWG event-stream rules: lines end with CR, LF or CRLF (and nothing else: a
U+2028 inside a JSON string is data, which is why we never call ``str.splitlines``); ``data``
lines of one event are joined with LF; a blank line dispatches; lines starting with ``:`` are
comments; one space after the colon is dropped. Line ends are ASCII bytes that never occur
inside a multi-byte UTF-8 sequence, so we split bytes first and decode whole lines: a character
split across reads needs no incremental decoder.

One leniency: ``close()`` dispatches a last event whose blank line never came (Azure ends
its stream with ``data: [DONE]\\n``).

Linear in the input whatever the server sends: a line still waiting for its end is kept as
the list of pieces it arrived in and joined once, when its end arrives (joining on every read
made a 64 MB line cost 30 s of CPU). One line or event larger than ``max_event_bytes`` raises
``LimitExceededError`` as soon as it passes the limit, so memory stays bounded too.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from ._errors import LimitExceededError, ProtocolError
from ._limits import DEFAULT_LIMITS

_BOM = b"\xef\xbb\xbf"
_LINE_END = re.compile(rb"\r\n|\r|\n")


class ServerSentEvent(NamedTuple):
    """One dispatched event. ``event`` is ``"message"`` when the stream named none."""

    data: str
    event: str = "message"
    id: str | None = None


class SSEDecoder:
    """Feed it bytes with ``feed``; it returns the events those bytes completed.

    Args:
        max_event_bytes: The largest line or event (its ``data`` lines together) accepted.
    """

    __slots__ = (
        "_data",
        "_data_size",
        "_event",
        "_head",
        "_id",
        "_max",
        "_pending",
        "_pieces",
        "_skip_lf",
        "_start",
        "comments",
    )

    def __init__(self, max_event_bytes: int = DEFAULT_LIMITS.max_event_bytes) -> None:
        self._pieces: list[bytes] = []  # an unfinished line, in the pieces it arrived in
        self._pending = 0  # bytes in ``_pieces``
        self._data: list[str] = []
        self._data_size = 0  # characters in ``_data``
        self._event = ""
        self._id: str | None = None
        self._skip_lf = False  # the last byte seen was a CR: a following LF belongs to it
        self._start = True  # nothing seen yet: a leading byte-order mark is dropped
        # The "event: <name>\ndata: " that began the last named event whole_data took,
        # already checked: a Responses stream repeats one name for every delta.
        self._head: bytes | None = None
        self._max = max_event_bytes
        self.comments = 0

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Decode ``chunk`` and return the events it completed, in order.

        Raises:
            ProtocolError: A line is not valid UTF-8.
            LimitExceededError: A line or an event passed ``max_event_bytes``.
        """
        if not chunk:
            return []
        if self._start:
            chunk = self._drop_bom(chunk)
            if not chunk:
                return []
        if chunk[:6] == b"data: ":
            # Fast path for the common read: exactly one whole "data: ...\n\n" event.
            data = self.whole_data(chunk)
            if data is not None:
                return [ServerSentEvent(data, "message", self._id)]
        # The line-by-line path, inline: as a method it cost about 2% CPU per read.
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
                if not chunk:
                    return []
        has_cr = b"\r" in chunk
        if not has_cr and b"\n" not in chunk:
            # No line ends here: keep the piece; nothing is copied until the line ends.
            self._keep(chunk)
            return []
        if self._pieces:
            self._pieces.append(chunk)
            buffer = b"".join(self._pieces)
            self._pieces, self._pending = [], 0
        else:
            buffer = chunk
        if has_cr:
            lines = _LINE_END.split(buffer)
            if buffer[-1:] == b"\r":
                lines.pop()  # the empty rest after the final CR
                self._skip_lf = True
                rest = b""
            else:
                rest = lines.pop()
        else:
            lines = buffer.split(b"\n")
            rest = lines.pop()
        events: list[ServerSentEvent] = []
        for line in lines:
            if len(line) > self._max:
                raise self._too_large()
            event = self._line(line)
            if event is not None:
                events.append(event)
        if rest:
            self._keep(rest)
        return events

    def whole_data(self, chunk: bytes) -> str | None:
        """The data of ``chunk`` when it is exactly one whole event of one ``data: `` line,
        maybe after one ``event:`` line (the event's name, which no parser here reads), and
        nothing is pending: the common read of a fast server, handled without the
        line-by-line path (parsers call it before ``feed``: about 2 µs per chunk less). None
        otherwise, and then it changed nothing: ``feed`` the chunk, which also reports what
        is wrong (a line that is not UTF-8) and where.
        """
        if self._start or self._pieces or self._data or self._event or self._skip_lf:
            return None
        # Slices compared, not startswith/endswith: a method call costs more on these.
        if chunk[-2:] != b"\n\n" or len(chunk) > self._max:
            return None
        head = self._head
        if chunk[:6] == b"data: ":
            start = 6
        elif head is not None and chunk.startswith(head):
            start = len(head)
        elif chunk[:7] == b"event: ":
            start = chunk.find(b"\n", 7) + 1
            # A name that is not ASCII goes the long way, which checks that it is UTF-8.
            name = chunk[7:start]
            if chunk[start : start + 6] != b"data: " or not name.isascii() or 13 in name:
                return None
            start += 6
            self._head = chunk[:start]
        else:
            return None
        try:
            data = chunk[start:-2].decode("utf-8")
        except UnicodeDecodeError:
            return None
        # One line: no line end inside (searched in the text, where ``in`` is a memchr;
        # ``b"\r" in chunk`` costs 0.17 µs).
        if "\n" in data or "\r" in data:
            return None
        return data

    def _drop_bom(self, chunk: bytes) -> bytes:
        """The first bytes of the stream without their byte-order mark (the spec's UTF-8
        decode drops one leading BOM, which may arrive split): empty while undecided."""
        head = b"".join(self._pieces) + chunk
        if len(head) < len(_BOM) and _BOM.startswith(head):
            self._pieces, self._pending = [head], len(head)
            return b""
        self._start = False
        self._pieces, self._pending = [], 0
        return head[len(_BOM) :] if head.startswith(_BOM) else head

    def close(self) -> list[ServerSentEvent]:
        """End of input: dispatch what is pending (see the module's leniency note)."""
        events: list[ServerSentEvent] = []
        if self._pieces:
            line = b"".join(self._pieces)
            self._pieces, self._pending = [], 0
            event = self._line(line)
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
        return bool(self._pieces or self._data)

    def _keep(self, piece: bytes) -> None:
        self._pending += len(piece)
        if self._pending + self._data_size > self._max:
            raise self._too_large()
        self._pieces.append(piece)

    def _too_large(self) -> LimitExceededError:
        return LimitExceededError(
            "an event of the stream is larger than the event limit",
            limit="max_event_bytes",
            value=self._max,
        )

    def _line(self, raw: bytes) -> ServerSentEvent | None:
        if not raw:
            if not self._data:
                self._event = ""
                return None
            data = self._data[0] if len(self._data) == 1 else "\n".join(self._data)
            event = ServerSentEvent(data, self._event or "message", self._id)
            self._data = []
            self._data_size = 0
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
            self._add_data(value[1:] if value[:1] == " " else value)
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
            self._add_data(value)
        elif name == "id" and "\0" not in value:
            self._id = value
        # "retry" and unknown fields are ignored, as the spec says.
        return None

    def _add_data(self, value: str) -> None:
        # Data lines without a blank line between them make one growing event: bounded too.
        self._data_size += len(value) + 1
        if self._data_size > self._max:
            raise self._too_large()
        self._data.append(value)
