"""The package's import graph keeps its layers (``tools/import_graph.py`` reads it).

No import cycles; no import from a module to one in a higher layer; no I/O library in the
sans-IO core or the protocol parsers; and ``docs/import-graph.md`` is what the script draws
from ``src/`` today.
The last tests feed the checks a small made-up package, so a check that could never fail
would show here.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load_script() -> ModuleType:
    path = ROOT / "tools" / "import_graph.py"
    spec = importlib.util.spec_from_file_location("import_graph", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


ig = _load_script()
GRAPH = ig.read_graph()


def test_the_graph_is_read() -> None:
    # A sanity floor: the script found the modules and the imports between them.
    assert {"_chat", "_llm", "_transports.websocket", "testing._fake"} <= set(GRAPH.modules)
    assert "_stream" in GRAPH.targets("_llm")


def test_every_module_is_in_a_layer() -> None:
    assert ig.unplaced(GRAPH) == [], "name the new module's layer in tools/import_graph.py LAYERS"


def test_no_import_cycles() -> None:
    assert ig.cycles(GRAPH) == []


def test_no_import_runs_up_a_layer() -> None:
    # The layers are declared in tools/import_graph.py (LAYERS, bottom first). A module that
    # needs something from a layer above wants that thing moved down, not the rule changed.
    assert [
        f"{e.source} -> {e.target} (line {e.line}, {e.kind})" for e in ig.upward_edges(GRAPH)
    ] == []


def test_the_sans_io_layers_import_no_io_library() -> None:
    assert ig.io_in_sans_io(GRAPH) == {}


def test_the_picture_in_docs_is_current() -> None:
    committed = ig.PICTURE.read_text(encoding="utf-8")
    assert committed == ig.draw(GRAPH), (
        "docs/import-graph.md is stale: run `python tools/import_graph.py --write`"
    )


# --- the checks can fail ----------------------------------------------------------------------


@pytest.fixture
def broken(tmp_path: Path) -> object:
    """A made-up ``scoped_openai`` whose imports break every rule once."""
    package = tmp_path / "scoped_openai"
    (package / "_transports").mkdir(parents=True)
    files = {
        "__init__.py": "from ._llm import OpenAILLM\n",
        "_chat.py": "import json\nimport anyio\n",  # core importing an I/O library
        "_events.py": "from ._sse import decode\n",  # a cycle _events <-> _sse ...
        "_sse.py": "from . import _events\n",  # ... through `from . import`
        "_errors.py": "def f():\n    from ._stream import ChatStream\n",  # lazy, up
        "_assembly.py": (  # up a layer, only for the type checker
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from scoped_openai._transports.http import X\n"
        ),
        "_llm.py": "from ._stream import ChatStream\nfrom ._transports import http\n",
        "_stream.py": "from ._chat import ChatContext\n",
        "_responses.py": "import trio\n",  # a parser importing an I/O library
        "_transports/__init__.py": "",
        "_transports/http.py": "from .._errors import APIError\nimport httpx\n",
        "_mystery.py": "",
    }
    for name, text in files.items():
        (package / name).write_text(text, encoding="utf-8")
    return ig.read_graph(package)


def test_the_checks_find_each_break(broken: object) -> None:
    assert ig.unplaced(broken) == ["_mystery"]
    assert ig.cycles(broken) == [["_events", "_sse"]]
    assert sorted((e.source, e.target, e.kind) for e in ig.upward_edges(broken)) == [
        ("_assembly", "_transports.http", "typing"),
        ("_errors", "_stream", "lazy"),
    ]
    assert ig.io_in_sans_io(broken) == {"_chat": ["anyio"], "_responses": ["trio"]}
    picture = ig.draw(broken)
    assert "- cycle: `_events` <-> `_sse`" in picture
    assert "- `_mystery` is in no layer" in picture
    assert "- `_llm` imports `_stream`, `_transports.http`" in picture


def test_a_longer_cycle_is_one_finding(tmp_path: Path) -> None:
    package = tmp_path / "scoped_openai"
    package.mkdir()
    for source, target in (("_chat", "_tools"), ("_tools", "_graph"), ("_graph", "_chat")):
        (package / f"{source}.py").write_text(f"from .{target} import x\n", encoding="utf-8")
    (package / "__init__.py").write_text("", encoding="utf-8")
    assert ig.cycles(ig.read_graph(package)) == [["_chat", "_graph", "_tools"]]
