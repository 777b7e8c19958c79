"""Start ``_server.py`` in a child process, ask it for counts, stop it."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
START_TIMEOUT = 30.0


def spans(port: int) -> dict[str, Any]:
    """The WebSocket timestamps the server at ``port`` took since the last call (``_server.py
    --spans``: ``events``, and ``clock``, how its ``perf_counter`` reads); blocking."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats/spans", timeout=10) as answer:
        result: dict[str, Any] = json.loads(answer.read())
    return result


def stats(port: int, *, reset: bool = False) -> dict[str, Any]:
    """The counts of the server at ``port`` (``_server.py``'s ``/stats``); blocking."""
    path = "/stats/reset" if reset else "/stats"
    data = b"" if reset else None
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", data=data, timeout=10) as answer:
        result: dict[str, Any] = json.loads(answer.read())
    return result


class ServerProcess:
    """``with ServerProcess() as server: server.base_url``; the process dies with the block."""

    def __init__(
        self, backend: str = "asyncio", *, spans: bool = False, live_responses: bool = False
    ) -> None:
        self.backend = backend
        self.spans = spans  # timestamp WebSocket turns (``_server.py --spans``)
        # Build every Responses reply event by event (``_server.py --live-responses``).
        self.live_responses = live_responses
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return None if self._proc is None else self._proc.pid

    def __enter__(self) -> ServerProcess:
        # The server's stderr goes to a file: hypercorn logs client disconnects at shutdown.
        self._log = tempfile.NamedTemporaryFile(prefix="bench-server-", suffix=".log", delete=False)
        self.log_path = self._log.name
        self._proc = subprocess.Popen(
            [sys.executable, str(HERE / "_server.py"), "--backend", self.backend]
            + (["--spans"] if self.spans else [])
            + (["--live-responses"] if self.live_responses else []),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
        )
        assert self._proc.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT
        line = b""
        while time.monotonic() < deadline:
            line = self._proc.stdout.readline()
            if line.startswith(b"PORT ") or not line:
                break
        if not line.startswith(b"PORT "):
            with open(self.log_path, errors="replace") as log:
                tail = log.read()[-2000:]
            self.__exit__(None, None, None)
            raise RuntimeError(f"the fake server did not start (said {line!r}):\n{tail}")
        self.port = int(line.split()[1])
        return self

    def stats(self, reset: bool = False) -> dict[str, Any]:
        """The server's counts (blocking: call it outside timed sections)."""
        return stats(self.port, reset=reset)

    def take_spans(self) -> list[dict[str, Any]]:
        """The server's WebSocket timestamps since the last call (needs ``spans=True``;
        blocking: call it outside timed sections). Empty when the two processes' clocks
        cannot be compared (the server's ``perf_counter`` is not the client's)."""
        got = spans(self.port)
        if got["events"] is None:
            raise RuntimeError("the server runs without --spans")
        if got["clock"] != time.get_clock_info("perf_counter").implementation:
            return []
        events: list[dict[str, Any]] = got["events"]
        return events

    def counter(self, key: str) -> Any:
        """A no-argument callable returning one of the server's counts."""
        return lambda: stats(self.port)[key]

    def __exit__(self, *exc: object) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        self._log.close()
        Path(self.log_path).unlink(missing_ok=True)
        try:
            if proc.stdin is not None:
                proc.stdin.close()  # the server stops on EOF
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
