"""A conversational-graph turn: speak one field of a structured reply while it streams."""

import json

import trio
from _support import ExampleServer

from scoped_openai import ChatContext, ChatRole, ConversationalGraph, OpenAILLM
from scoped_openai.testing import FakeOpenAI, Reply

ANSWER = {
    "response_to_user": "Got it: a table for two at eight. Anything else?",
    "extracted_values": [{"key": "party_size", "value": 2}, {"key": "time", "value": "20:00"}],
}


def script(fake: FakeOpenAI) -> None:
    fake.add(Reply.text(json.dumps(ANSWER), chunk_size=5))


async def main() -> None:
    graph = ConversationalGraph()  # the reference's schema; speaks "response_to_user"
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.USER, "A table for two at eight, please.")
    async with (
        ExampleServer(script) as where,
        OpenAILLM(base_url=where.base_url, api_key=where.api_key) as llm,
    ):
        async for item in llm.chat(ctx, conversational_graph=graph):
            if item.graph_response is not None:
                print("\nextracted:", item.graph_response["extracted_values"])
            else:
                print(item.content, end="", flush=True)  # only the spoken field


if __name__ == "__main__":
    trio.run(main)
