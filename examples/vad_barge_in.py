"""Barge-in driven by a (simulated) voice-activity detector.

One task speaks the reply; another listens to the microphone. When the VAD says the user
started talking, it calls ``cancel_current_generation()``: the speaking loop ends at once,
and the agent keeps only what was actually spoken in its history.
"""

import time

import trio
from _support import ExampleServer

from scoped_openai import ChatContext, ChatRole, OpenAILLM
from scoped_openai.testing import FakeOpenAI, Reply

STORY = "Once upon a time there was a lighthouse keeper who counted the waves every night."


def script(fake: FakeOpenAI) -> None:
    fake.add(Reply.text(STORY, chunk_size=6, delay=0.05), Reply.text("Sure: waves, counted."))


async def fake_vad(speech_started: trio.Event) -> None:
    await trio.sleep(0.2)  # the user starts talking 200 ms into the reply
    speech_started.set()


async def main() -> None:
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.USER, "Tell me a story.")
    async with (
        ExampleServer(script) as where,
        OpenAILLM(base_url=where.base_url, api_key=where.api_key) as llm,
    ):
        speech_started = trio.Event()
        cancelled_at = 0.0

        async def on_user_speech() -> None:
            nonlocal cancelled_at
            await speech_started.wait()
            cancelled_at = time.perf_counter()
            await llm.cancel_current_generation()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(fake_vad, speech_started)
            nursery.start_soon(on_user_speech)
            async with llm.chat(ctx) as stream:
                async for item in stream:
                    print(item.content, end="", flush=True)  # stands in for TTS
            stopped = time.perf_counter()
        print(f"\n[barge-in: reply stopped {1000 * (stopped - cancelled_at):.2f} ms after the VAD]")
        assert stream.cancelled
        ctx.add_message(ChatRole.ASSISTANT, stream.assembler.spoken)  # only what was heard
        ctx.add_message(ChatRole.USER, "Shorter, please.")
        async for item in llm.chat(ctx):
            print(item.content, end="")
        print()


if __name__ == "__main__":
    trio.run(main)
