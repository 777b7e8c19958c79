"""What the fake saw: requests, and how many connections and bodies were opened and closed."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class RecordedRequest:
    """One request the fake received."""

    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass(slots=True)
class Counters:
    """Opens and closes of response bodies; ``open_bodies`` must return to zero."""

    bodies_opened: int = 0
    bodies_closed: int = 0
    connections: int = 0
    requests: list[RecordedRequest] = field(default_factory=list)

    @property
    def open_bodies(self) -> int:
        """Bodies started and not yet closed."""
        return self.bodies_opened - self.bodies_closed
