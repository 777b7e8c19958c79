"""The one rule for merging caller-supplied fields (``extra_body``, ``chat(**kwargs)``) into a
request body, on every path: objects merge deeply, everything else is replaced, and a None
value removes the key. Deep, because both APIs nest settings (``reasoning``, ``text``,
``stream_options``): ``extra_body={"reasoning": {"summary": "auto"}}`` must not wipe the
configured effort, nor ``{"stream_options": {...}}`` the usage report the stream relies on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import msgspec

from ._errors import UsageError

_encode = msgspec.json.Encoder().encode


def without_none(value: Any) -> Any:
    # None means "not set": drop it from every object, at any depth. List elements are
    # values (an enum may list null), so only the objects inside lists are cleaned.
    if isinstance(value, Mapping):
        return {key: without_none(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_none(item) for item in value]
    return value


def merge_into(base: dict[str, Any], extra: Mapping[str, Any]) -> None:
    """Merge ``extra`` into ``base`` (which we own): objects deep, everything else replaced.

    Deep because the Responses settings are nested: ``extra_body={"reasoning": {"summary":
    "auto"}}`` must not wipe the configured effort, nor ``{"text": {...}}`` the graph's
    ``text.format``. A None value removes the key.
    """
    for key, value in extra.items():
        if value is None:
            base.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(base.get(key), Mapping):
            merged = dict(base[key])  # copy: never mutate a dict someone else owns
            merge_into(merged, value)
            base[key] = merged
        else:
            base[key] = without_none(value)


def json_bytes(body: Mapping[str, Any]) -> bytes:
    """``body`` as compact UTF-8 JSON, the request of every path: msgspec encodes a
    101-message history in about 7 µs where ``json.dumps`` takes 65, on every turn
    (``benchmarks/bench_http_layers.py --request``).

    Raises:
        UsageError: A float in ``body`` is a NaN or an infinity, which JSON cannot hold (msgspec
            would write ``null``, which the API takes for "not set"; ``json.dumps`` would
            write ``NaN``, which the API refuses a round trip later). The message names
            where; nothing was sent.
    """
    data = _encode(body)
    if b"null" in data:  # the only form a non-finite float takes; rare otherwise
        found = _non_finite(body, "$")
        if found is not None:
            where, value = found
            raise UsageError(
                f"the request cannot be sent: {where} is {value!r}, and JSON has no NaN or "
                "infinity (check the value passed for it: a setting, extra_body, a chat() "
                "keyword, a tool schema or a context item)"
            )
    return data


def _non_finite(value: Any, where: str) -> tuple[str, float] | None:
    """The JSON path and value of the first NaN or infinity in ``value``, if any."""
    if isinstance(value, float):
        return None if math.isfinite(value) else (where, value)
    if isinstance(value, Mapping):
        for key, item in value.items():
            found = _non_finite(item, f"{where}.{key}")
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _non_finite(item, f"{where}[{index}]")
            if found is not None:
                return found
    return None
