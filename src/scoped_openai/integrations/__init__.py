"""Framework plugins (optional extras) and the owner they share.

``LLMOwner`` (here) enters an ``OpenAILLM`` on behalf of code that cannot hold an
``async with`` block. The plugins live in submodules and import their framework, so each
needs its extra: ``scoped_openai.integrations.videosdk`` (``scoped-openai[videosdk]``),
``.livekit`` (``[livekit]``), ``.pipecat`` (``[pipecat]``). This package imports none of them.
"""

from ._openai_format import ConversionError
from ._owner import LLMOwner

__all__ = ["ConversionError", "LLMOwner"]
