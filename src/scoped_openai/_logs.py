"""``OPENAI_LOG``: the switch openai-python reads, read the same way here.

``OPENAI_LOG=debug`` (or ``info``) sends the ``scoped_openai`` logger's records, and httpx's
as openai-python does, to stderr at that level, for an application that configures no logging
of its own. The lines say what each turn and socket did (phase, turn number, request id,
timings); they never contain the API key or any message text.
"""

from __future__ import annotations

import logging
import os

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO}
_FORMAT = "[%(asctime)s - %(name)s - %(levelname)s] %(message)s"


def configure_from_env() -> None:
    """Apply ``OPENAI_LOG`` if set to ``debug`` or ``info`` (anything else: do nothing)."""
    level = _LEVELS.get(os.environ.get("OPENAI_LOG", "").strip().lower())
    if level is None:
        return
    for name in ("scoped_openai", "httpx"):
        logger = logging.getLogger(name)
        if not logger.handlers:  # an application's own handler wins
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter(_FORMAT))
            logger.addHandler(handler)
        logger.setLevel(level)
