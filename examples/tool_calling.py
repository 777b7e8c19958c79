"""A tool-calling loop: run the tools the model asks for, send results, get the answer."""

import json
from typing import Annotated, Literal

import trio
from _support import ExampleServer

from scoped_openai import ChatContext, ChatRole, OpenAILLM, function_tool
from scoped_openai.testing import FakeOpenAI, Reply


@function_tool
def get_weather(city: Annotated[str, "The city, e.g. Paris"], unit: Literal["c", "f"] = "c") -> str:
    """Get the current weather in a city."""
    return json.dumps({"city": city, "temperature": 21 if unit == "c" else 70, "unit": unit})


def script(fake: FakeOpenAI) -> None:
    fake.add(
        Reply.tool_calls(("call_1", "get_weather", '{"city": "Paris", "unit": "c"}')),
        Reply.text("It's 21 degrees in Paris."),
    )


async def main() -> None:
    ctx = ChatContext.empty()
    ctx.add_message(ChatRole.USER, "How warm is it in Paris?")
    tools = [get_weather]
    async with (
        ExampleServer(script) as where,
        OpenAILLM(base_url=where.base_url, api_key=where.api_key) as llm,
    ):
        while True:
            calls = []
            async with llm.chat(ctx, tools=tools) as stream:
                async for item in stream:
                    if item.function_call:
                        calls.append(item.function_call)
                    print(item.content, end="")
            if not calls:
                break
            for call in calls:
                result = await get_weather.invoke(call["arguments"])
                print(f"[tool {call['name']}({call['arguments']}) -> {result}]")
                ctx.add_function_call(call["name"], json.dumps(call["arguments"]), call["id"])
                ctx.add_function_output(call["name"], result, call["id"])
        print()


if __name__ == "__main__":
    trio.run(main)
