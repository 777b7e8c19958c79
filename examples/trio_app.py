"""A trio voice-agent turn loop: stream each reply as it arrives, keep the history."""

import trio
from _support import ExampleServer

from scoped_openai import ChatContext, ChatRole, OpenAILLM
from scoped_openai.testing import FakeOpenAI, Reply


def script(fake: FakeOpenAI) -> None:
    fake.add(Reply.text("Hello! I run on trio."), Reply.text("Structured concurrency, mostly."))


async def main() -> None:
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.SYSTEM, "You are a concise voice assistant.")
    async with (
        ExampleServer(script) as where,
        OpenAILLM(base_url=where.base_url, api_key=where.api_key) as llm,
    ):
        for question in ["Hi, what do you run on?", "And what do you like about it?"]:
            ctx.add_message(ChatRole.USER, question)
            print(f"user: {question}\nassistant: ", end="")
            async with llm.chat(ctx) as stream:
                async for item in stream:
                    print(item.content, end="", flush=True)
            print()
            ctx.add_message(ChatRole.ASSISTANT, stream.assembler.spoken)


if __name__ == "__main__":
    trio.run(main)
