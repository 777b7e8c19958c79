"""Tools for testing voice agents built on scoped-openai deterministically.

``FakeOpenAI`` is a scripted fake of the OpenAI API (in memory, or on a loopback socket);
``Reply`` and its steps (``Pause``, ``Stall``, ``Disconnect``) script what it sends;
``WSReply`` (with ``Pause``, ``Stall``, ``CloseSocket``) scripts its Responses WebSocket.
"""

from ._fake import FAKE_API_KEY, FakeOpenAI
from ._recorder import Counters, RecordedRequest
from ._script import DONE, Disconnect, Pause, Reply, Stall, chunk, usage_chunk
from ._state import WSHandshake
from ._ws_fake import FakeWebSocket, FakeWSConnector, ScriptedResponsesSocket
from ._ws_script import AUTO_RESPONSE_ID, CloseSocket, WSReply

__all__ = [
    "AUTO_RESPONSE_ID",
    "DONE",
    "FAKE_API_KEY",
    "CloseSocket",
    "Counters",
    "Disconnect",
    "FakeOpenAI",
    "FakeWSConnector",
    "FakeWebSocket",
    "Pause",
    "RecordedRequest",
    "Reply",
    "ScriptedResponsesSocket",
    "Stall",
    "WSHandshake",
    "WSReply",
    "chunk",
    "usage_chunk",
]
