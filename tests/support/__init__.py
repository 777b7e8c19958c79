"""What the tests share, defined once: the paths a turn can take, one collected turn, the
barge-in consumer, the tools, input items as sent, and the socket tracker.

A package rather than conftest fixtures because most of it is plain values and functions
that tests name at import time (tools inside ``pytest.param`` lists, ``PATHS`` in
``parametrize``, ``turn()`` in helpers of their own), and a fixture cannot be used there.
Per-test state (the fake, the tracker, the llm on a path) stays in ``tests/conftest.py``
as fixtures built from these pieces. Importable as ``support`` because pytest puts
``tests/`` (the root conftest's folder) on ``sys.path`` (not ``_support``: examples/ has a
module of that name).
"""
