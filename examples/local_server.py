"""Any OpenAI-compatible server (vLLM, llama.cpp, Ollama...) through ``base_url``.

Set LOCAL_BASE_URL (e.g. http://127.0.0.1:11434/v1) and LOCAL_MODEL to use yours; no API key
is needed with a base URL. Without them this runs against the embedded fake.
"""

import asyncio
import os

from _support import ExampleServer

from scoped_openai import ChatContext, ChatRole, OpenAILLM
from scoped_openai.testing import FakeOpenAI, Reply


def script(fake: FakeOpenAI) -> None:
    fake.extra_models.add("llama-3.2-3b")  # the fake serves OpenAI's model names otherwise
    fake.add(Reply.text("Answering from a local model.", model="llama-3.2-3b"))


async def main() -> None:
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.USER, "Who are you?")
    base_url = os.getenv("LOCAL_BASE_URL") or None
    async with ExampleServer(script if base_url is None else lambda fake: None) as where:
        async with OpenAILLM(
            base_url=base_url or where.base_url,
            api_key=None if base_url else where.api_key,
            model=os.getenv("LOCAL_MODEL", "llama-3.2-3b"),
        ) as llm:
            async for item in llm.chat(ctx):
                print(item.content, end="")
        print()


if __name__ == "__main__":
    asyncio.run(main())
