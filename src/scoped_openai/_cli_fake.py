"""The embedded fake the command line talks to when no API key or base URL is given."""

from __future__ import annotations

import json

from .testing import FakeOpenAI, RecordedRequest, Reply

_CANNED = (
    "Hi! I'm the embedded fake OpenAI server, answering on loopback because no "
    "OPENAI_API_KEY or --base-url was given. You said: {prompt}"
)


def _last_user_text(request: RecordedRequest) -> str:
    try:
        messages = request.json().get("messages", [])
    except (ValueError, AttributeError):
        return ""
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else json.dumps(content)
    return ""


def embedded_fake(*, chunk_delay: float = 0.02) -> FakeOpenAI:
    """A fake that answers every chat request with a short streamed reply."""

    def reply(request: RecordedRequest) -> Reply:
        text = _CANNED.format(prompt=_last_user_text(request))
        words = [w + " " for w in text.split(" ")]
        words[-1] = words[-1].rstrip()
        return Reply.text(words, delay=chunk_delay, usage=(len(text) // 4, len(words)))

    return FakeOpenAI(default=reply)
