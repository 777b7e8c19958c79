"""The same loop under asyncio, in the reference plugin's style (bare ``async for``)."""

import asyncio

from _support import ExampleServer

from scoped_openai import ChatContext, ChatRole, OpenAILLM
from scoped_openai.testing import FakeOpenAI, Reply


def script(fake: FakeOpenAI) -> None:
    fake.add(Reply.text("Hello from asyncio!"))


async def main() -> None:
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.USER, "Say hello.")
    async with (
        ExampleServer(script) as where,
        OpenAILLM(base_url=where.base_url, api_key=where.api_key) as llm,
    ):
        reply = []
        async for item in llm.chat(ctx):
            reply.append(item.content)
            if item.usage and item.usage["total_tokens"]:
                print(f"\n(usage: {item.usage})")
        print("assistant:", "".join(reply))


if __name__ == "__main__":
    asyncio.run(main())
