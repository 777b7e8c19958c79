"""The service's public name, its place in Pipecat's class tree and its constructor."""

from __future__ import annotations

import pytest
from pipecat.services.llm_service import LLMService

import scoped_openai.integrations.pipecat as plugin
from scoped_openai import OpenAILLM
from scoped_openai.integrations.pipecat import OpenAILLMService


def test_public_names_are_pinned() -> None:
    assert plugin.__all__ == ["OpenAILLMService"]
    assert issubclass(OpenAILLMService, LLMService)


def test_library_keywords_build_the_llm_and_the_rest_go_to_pipecat() -> None:
    service = OpenAILLMService(
        api_key="sk-test",
        model="gpt-5-mini",
        streaming=True,
        idle_timeout=2.5,
        reasoning_effort="low",
        run_in_parallel=False,
        system_instruction="Be brief.",
    )
    assert service.llm.model == "gpt-5-mini"
    assert service.llm.streaming
    assert service.llm.idle_timeout == 2.5
    assert service.llm.settings.reasoning_effort == "low"
    assert service.settings.model == "gpt-5-mini"
    assert service.settings.system_instruction == "Be brief."
    assert service._run_in_parallel is False


def test_an_llm_or_its_keywords_not_both() -> None:
    llm = OpenAILLM(api_key="sk-test")
    assert OpenAILLMService(llm=llm).llm is llm
    with pytest.raises(TypeError, match="not both"):
        OpenAILLMService(llm=llm, model="gpt-4o")
