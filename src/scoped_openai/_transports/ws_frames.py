"""Frame boundaries on the wire, and the common frame decoded without a parser round trip.

Nearly every frame the Responses API sends is one unfragmented, unmasked text frame under
64 KiB (``0x81``, a 7- or 16-bit length). ``simple_text_frames`` decodes a run of those
straight from the bytes read; ``frame_size`` finds where any other frame ends, so the
``websockets`` protocol is handed whole frames, in order, and keeps doing everything else
(control frames, fragments, limits, protocol errors). Measured by
``benchmarks/ws_engines.py``: the protocol's parse is most of the engine's own cost per frame.
``masked_text_frame`` is the other direction: the one frame a turn sends, its request.
"""

from __future__ import annotations

import os
from collections.abc import Callable

try:  # the C speedup websockets itself masks with; its pure-Python one otherwise
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - a build without the C extension
    from websockets.utils import apply_mask

__all__ = ["frame_size", "masked_text_frame", "simple_text_frames"]

#: First byte of an unfragmented text frame: FIN set, no reserved bits, opcode 1.
_FIN_TEXT = 0x81


def simple_text_frames(data: bytes, append: Callable[[str], object]) -> int:
    """Pass the text of the whole simple text frames at the start of ``data`` to ``append``,
    in order; return how many bytes they took (0: the first frame is of another kind, not
    all here, or not UTF-8: the protocol path reports that one)."""
    end = len(data)
    i = 0
    while i + 2 <= end and data[i] == _FIN_TEXT:
        size = data[i + 1]  # a masked frame (bit 7) is not simple: the protocol refuses it
        if size < 126:
            start = i + 2
        elif size == 126 and i + 4 <= end:
            size = (data[i + 2] << 8) | data[i + 3]
            start = i + 4
        else:
            break
        stop = start + size
        if stop > end:
            break
        try:
            text = data[start:stop].decode("utf-8")
        except UnicodeDecodeError:
            break
        append(text)
        i = stop
    return i


def frame_size(data: bytes) -> int | None:
    """The length in bytes (header included) of the frame that starts ``data``, or None
    when its header is not all here yet (at most 14 bytes)."""
    if len(data) < 2:
        return None
    second = data[1]
    header = 6 if second & 0x80 else 2  # a mask key follows the length
    size = second & 0x7F
    if size == 126:
        if len(data) < 4:
            return None
        size = int.from_bytes(data[2:4], "big")
        header += 2
    elif size == 127:
        if len(data) < 10:
            return None
        size = int.from_bytes(data[2:10], "big")
        header += 8
    return header + size


def masked_text_frame(payload: bytes) -> bytes:
    """One unfragmented text frame as a client sends it (RFC 6455 section 5.2: FIN, opcode
    1, masked with a fresh random key): the bytes ``websockets``' ``Frame.serialize``
    writes for it with no extension, without its checks and object layers."""
    size = len(payload)
    if size < 126:
        header = bytes((_FIN_TEXT, 0x80 | size))
    elif size < 65536:
        header = bytes((_FIN_TEXT, 0xFE)) + size.to_bytes(2, "big")
    else:
        header = bytes((_FIN_TEXT, 0xFF)) + size.to_bytes(8, "big")
    mask = os.urandom(4)
    return b"".join((header, mask, apply_mask(payload, mask)))
