"""WebSocket mode (the Responses API): a warm socket across turns, chained turns, barge-in.

``prewarm`` opens the socket and a spare and primes the instructions with
``generate: false``; each later turn sends only its new items with
``previous_response_id``; a barge-in retires the socket and the next turn goes out on the
warm spare.
"""

import trio
from _support import ExampleServer

from scoped_openai import ChatContext, ChatRole, OpenAILLM
from scoped_openai.testing import FakeOpenAI, WSReply

INSTRUCTIONS = "You are a concise voice assistant."


def script(fake: FakeOpenAI) -> None:
    fake.add_ws(
        WSReply.text("Hi! Ask me anything."),
        WSReply.text("Here is a very long answer that the user will interrupt", delay=0.05),
        WSReply.text("Okay, short version: yes."),
    )


async def main() -> None:
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.SYSTEM, INSTRUCTIONS)
    async with (
        ExampleServer(script) as where,
        OpenAILLM(base_url=where.base_url, api_key=where.api_key, streaming=True) as llm,
    ):
        await llm.prewarm(instructions=INSTRUCTIONS)
        for turn, question in enumerate(["Hello?", "Tell me everything.", "Short version?"]):
            ctx.add_message(ChatRole.USER, question)
            print(f"user: {question}\nassistant: ", end="")
            async with llm.chat(ctx) as stream:
                async for item in stream:
                    print(item.content, end="", flush=True)
                    if turn == 1 and len(stream.assembler.spoken) > 20:
                        await llm.cancel_current_generation()  # the user interrupts
            print(" [interrupted]" if stream.cancelled else "")
            ctx.add_message(ChatRole.ASSISTANT, stream.assembler.spoken)
        if where.fake is not None:
            chained = [f.get("previous_response_id") for f in where.fake.ws_frames]
            print(f"(previous_response_id per request: {chained})")


if __name__ == "__main__":
    trio.run(main)
