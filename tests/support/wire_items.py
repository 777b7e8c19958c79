"""Responses ``input`` items as the library sends them, for tests that compare frames."""

from __future__ import annotations

from typing import Any


def msg(role: str, text: str) -> dict[str, Any]:
    """A text message as an input item: the assistant's as the client-authored
    ``EasyInputMessage`` (``{"role", "content": text}``), the others with ``input_text``."""
    if role == "assistant":
        return {"role": "assistant", "content": text}
    return {"type": "message", "role": role, "content": [{"type": "input_text", "text": text}]}


def user(text: str) -> dict[str, Any]:
    return msg("user", text)


def system(text: str) -> dict[str, Any]:
    return msg("system", text)


def assistant(text: str) -> dict[str, Any]:
    """The client-authored ``EasyInputMessage``: an ``OutputMessage`` needs the server's id
    and status."""
    return msg("assistant", text)
