"""What a turn does before it sends its request again: the answer of ``plan_retry``.

A plan is a value: asking a turn whether (and how) to retry changes nothing; the turn
applies the plan when it starts again (``start(owner, plan)``).
"""

from __future__ import annotations

import msgspec


# A frozen msgspec Struct, not a dataclass: the same value semantics (equality, hash, repr),
# defined in 10 us where a frozen slotted dataclass takes 0.5 ms of the import.
class RetryPlan(msgspec.Struct, frozen=True):
    """How to send a turn's request again, nothing having reached the caller.

    Attributes:
        delay: Seconds to wait first (backoff, ``Retry-After``; 0 for a resend).
        fresh_socket: WebSocket: not on the socket the last attempt used (the server
            closed or refused it).
        full_context: Send the whole context, not a chained suffix (the server lost, or
            may have lost, what the chain continued from).
    """

    delay: float
    fresh_socket: bool = False
    full_context: bool = False
