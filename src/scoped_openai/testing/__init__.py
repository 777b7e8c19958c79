"""Tools for testing voice agents built on scoped-openai deterministically.

``FakeOpenAI`` is a scripted fake of the OpenAI API (in memory, or on a loopback socket);
``Reply`` and its steps (``Pause``, ``Stall``, ``Disconnect``) script what it sends.
"""

from ._fake import FAKE_API_KEY, FakeOpenAI
from ._recorder import Counters, RecordedRequest
from ._script import DONE, Disconnect, Pause, Reply, Stall, chunk, usage_chunk

__all__ = [
    "DONE",
    "FAKE_API_KEY",
    "Counters",
    "Disconnect",
    "FakeOpenAI",
    "Pause",
    "RecordedRequest",
    "Reply",
    "Stall",
    "chunk",
    "usage_chunk",
]
