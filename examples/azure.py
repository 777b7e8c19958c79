"""Azure OpenAI: deployment URLs, api-version and the api-key header.

Set AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY and OPENAI_API_VERSION to use a real
deployment; without them this runs against the embedded fake, answering on the same paths.
"""

import os

import trio
from _support import ExampleServer

from scoped_openai import ChatContext, ChatRole, OpenAILLM
from scoped_openai.testing import FakeOpenAI, Reply


def script(fake: FakeOpenAI) -> None:
    fake.add(Reply.text("Hallo Welt!"))


async def main() -> None:
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.USER, "Say hello world in German.")
    real = bool(os.getenv("AZURE_OPENAI_ENDPOINT"))
    async with ExampleServer(script if not real else lambda fake: None) as where:
        endpoint = None if real else (where.base_url or "").removesuffix("/v1")
        llm = OpenAILLM.azure(
            model="gpt-4o-mini",
            azure_endpoint=endpoint,
            azure_deployment=None if real else "my-gpt-4o-mini",
            api_version=None if real else "2024-10-21",
            api_key=None if real else "azure-example-key",
        )
        async with llm:
            async for item in llm.chat(ctx):
                print(item.content, end="")
        print()
        if where.fake is not None:
            request = where.fake.requests[-1]
            print(f"(sent to {request.path}?api-version={request.query['api-version']})")


if __name__ == "__main__":
    trio.run(main)
