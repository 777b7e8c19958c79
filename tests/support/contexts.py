"""Chat contexts the tests build more than once."""

from __future__ import annotations

from scoped_openai import ChatContext, ChatRole
from scoped_openai._chat import ChatItem


def sample_context() -> list[ChatItem]:
    """One item of every kind: system, developer, user and assistant messages, a function
    call and its output."""
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.SYSTEM, "Be brief.")
    ctx.add_message(ChatRole.DEVELOPER, "Use tools.")
    ctx.add_message(ChatRole.USER, "Weather in Paris?")
    ctx.add_message(ChatRole.ASSISTANT, "Let me check.")
    ctx.add_function_call("get_weather", '{"city":"Paris"}', call_id="call_1")
    ctx.add_function_output("get_weather", "sunny", call_id="call_1")
    return ctx.items
