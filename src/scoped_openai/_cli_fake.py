"""The embedded fake the command line talks to when no API key or base URL is given."""

from __future__ import annotations

import json

from .testing import FakeOpenAI, RecordedRequest, Reply, WSReply

_CANNED = (
    "Hi! I'm the embedded fake OpenAI server, answering on loopback because no "
    "OPENAI_API_KEY or --base-url was given. You said: {prompt}"
)


def word_pieces(text: str) -> list[str]:
    """``text`` as streamed word by word: each piece a word and the space after it."""
    pieces = [word + " " for word in text.split(" ")]
    pieces[-1] = pieces[-1].rstrip()
    return pieces


def _last_user_text(request: RecordedRequest) -> str:
    """The last user message of a Chat Completions body or a ``response.create`` frame."""
    try:
        body = request.json()
    except ValueError:
        return ""
    messages = body.get("messages") or body.get("input") or []
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):  # Responses input parts
                return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
            return content if isinstance(content, str) else json.dumps(content)
    return "(something I don't have: this turn was chained to an earlier one)"


def embedded_fake(*, chunk_delay: float = 0.02) -> FakeOpenAI:
    """A fake that answers every chat request with a short streamed reply."""

    def words(request: RecordedRequest) -> list[str]:
        return word_pieces(_CANNED.format(prompt=_last_user_text(request)))

    def reply(request: RecordedRequest) -> Reply:
        pieces = words(request)
        return Reply.text(pieces, delay=chunk_delay, usage=(len(pieces) * 2, len(pieces)))

    def ws_reply(request: RecordedRequest) -> WSReply:
        pieces = words(request)
        return WSReply.text(pieces, delay=chunk_delay, usage=(len(pieces) * 2, len(pieces)))

    return FakeOpenAI(default=reply, ws_default=ws_reply)
