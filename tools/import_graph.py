"""The import graph of ``src/scoped_openai``, read with ``ast``, drawn as layers.

Run ``python tools/import_graph.py`` to print the picture (Markdown) that
``docs/import-graph.md`` holds; ``--write`` rewrites that page. ``tests/test_layers.py`` uses
the same functions to fail on an import cycle, on an import that runs up a layer, and on an I/O
library imported by the sans-IO core.

Every import counts, wherever it is written: at module level, inside a function (a lazy import
is still a dependency), or under ``TYPE_CHECKING`` (a type names the module it comes from).
Implicit imports of a parent package (``import a.b`` runs ``a/__init__``) are not edges.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIR = ROOT / "src" / "scoped_openai"
PACKAGE = "scoped_openai"
PICTURE = ROOT / "docs" / "import-graph.md"

#: The layers, bottom first: a module may import from its own layer or any layer below it.
#: Names are relative to the package ("_chat", "_transports.http", "testing._fake"); the
#: package itself is "scoped_openai". The first layer whose patterns match a module is its
#: layer; a module no layer names is an error (the test says which).
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "core (sans-IO)",
        (
            "_errors",
            "_chat",
            "_tools",
            "_tool_schema",
            "_graph",
            "_events",
            "_assembly",
            "_sse",
            "_limits",
            "_response",
            "_settings",
            "_body",
            "_wire",
            "_endpoint",
            "_logs",
            "_metrics",
            "_retry_plan",
            "_record",
        ),
    ),
    (
        "protocol parsers and bodies",
        ("_chat_completions", "_responses", "_responses_*", "_chain"),
    ),
    (
        "transports and I/O helpers",
        (
            "_transports",
            "_transports.*",
            "_compat",
            "_proxy_settings",
            "_tls",
            "_deferred_import",
            "_give_way",
            "_loops",
            "_watchdog",
            "_deadlines",
            "_turn_owner",
        ),
    ),
    ("turns and pool", ("_ws_slot", "_ws_pool", "_ws_turn", "_http_turn", "_http_responses")),
    ("stream", ("_stream",)),
    ("llm", ("_llm", "_first_entry", "_stepwise_import", "_ws_fallback")),
    (
        "integrations, testing, CLI",
        (
            "scoped_openai",
            "integrations",
            "integrations.*",
            "testing",
            "testing.*",
            "__main__",
            "_cli_*",
            "_demo",
        ),
    ),
)

#: How many layers, from the bottom, must import no I/O library: the sans-IO core and the
#: protocol parsers (bytes or frames in, events out).
SANS_IO_LAYERS = 2

#: Top-level packages that do I/O (or run an event loop): the sans-IO core imports none.
IO_LIBRARIES = frozenset(
    {
        "aiohttp",
        "anyio",
        "asyncio",
        "h11",
        "httpcore",
        "httpx",
        "httpx_ws",
        "hypercorn",
        "selectors",
        "sniffio",
        "socket",
        "ssl",
        "subprocess",
        "threading",
        "trio",
        "trio_websocket",
        "websockets",
        "wsproto",
    }
)


@dataclass(frozen=True)
class Edge:
    """One import of a package module by another."""

    source: str
    target: str
    line: int
    #: "module" (at import time), "lazy" (inside a function) or "typing" (TYPE_CHECKING).
    kind: str


@dataclass
class Graph:
    """The package's modules, the imports between them and the libraries each imports."""

    modules: list[str]
    edges: list[Edge]
    libraries: dict[str, set[str]] = field(default_factory=dict)

    def targets(self, source: str) -> list[str]:
        """The package modules ``source`` imports, sorted, each once."""
        return sorted({e.target for e in self.edges if e.source == source})


def module_name(path: Path, package_dir: Path = PACKAGE_DIR) -> str:
    """``_transports.http`` for ``.../scoped_openai/_transports/http.py``."""
    parts = list(path.relative_to(package_dir).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts) if parts else PACKAGE


def read_graph(package_dir: Path = PACKAGE_DIR) -> Graph:
    """Parse every module under ``package_dir`` and collect its imports."""
    paths = sorted(package_dir.rglob("*.py"))
    names = {module_name(p, package_dir): p for p in paths}
    graph = Graph(modules=sorted(names), edges=[])
    for name, path in names.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        libraries: set[str] = set()
        for node, kind in _imports(tree):
            for target in _targets(node, name, is_package, names):
                if target is None:
                    continue
                if target.startswith("!"):
                    libraries.add(target[1:])
                elif target != name:
                    graph.edges.append(Edge(name, target, node.lineno, kind))
        graph.libraries[name] = libraries
    graph.edges.sort(key=lambda e: (e.source, e.target, e.line))
    return graph


def _imports(tree: ast.Module) -> Iterable[tuple[ast.Import | ast.ImportFrom, str]]:
    """Every import statement with its kind: module level, lazy, or under TYPE_CHECKING."""

    def walk(node: ast.AST, kind: str) -> Iterable[tuple[ast.Import | ast.ImportFrom, str]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                yield child, kind
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for statement in child.body:
                    yield from walk(ast.Module(body=[statement], type_ignores=[]), "typing")
                for statement in child.orelse:
                    yield from walk(ast.Module(body=[statement], type_ignores=[]), kind)
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                yield from walk(child, "lazy" if kind == "module" else kind)
            else:
                yield from walk(child, kind)

    return walk(tree, "module")


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _targets(
    node: ast.Import | ast.ImportFrom, source: str, is_package: bool, modules: dict[str, Path]
) -> Iterable[str | None]:
    """The package modules an import statement names; libraries come back as ``!name``."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield _absolute(alias.name, modules)
        return
    if node.level == 0:
        base = node.module or ""
        if base.split(".")[0] != PACKAGE:
            yield "!" + base.split(".")[0]
            return
        base_parts = base.split(".")[1:]
    else:
        here = [] if source == PACKAGE else source.split(".")
        if not is_package:
            here = here[:-1]
        up = node.level - 1
        if up > len(here):
            raise ValueError(f"{source}: relative import climbs out of the package")
        base_parts = here[: len(here) - up] + (node.module.split(".") if node.module else [])
    for alias in node.names:
        # ``from . import x`` names the submodule x when there is one, else the package.
        submodule = ".".join([*base_parts, alias.name])
        if submodule in modules:
            yield submodule
        else:
            yield ".".join(base_parts) if base_parts else PACKAGE


def _absolute(dotted: str, modules: dict[str, Path]) -> str | None:
    parts = dotted.split(".")
    if parts[0] != PACKAGE:
        return "!" + parts[0]
    name = ".".join(parts[1:]) or PACKAGE
    return name if name in modules else None


# --- the rules --------------------------------------------------------------------------------


def layer_of(module: str) -> int | None:
    """The index in ``LAYERS`` of ``module``'s layer (None: no layer names it)."""
    for index, (_, patterns) in enumerate(LAYERS):
        if any(fnmatch.fnmatchcase(module, pattern) for pattern in patterns):
            return index
    return None


def unplaced(graph: Graph) -> list[str]:
    """Modules that no layer names."""
    return [m for m in graph.modules if layer_of(m) is None]


def upward_edges(graph: Graph) -> list[Edge]:
    """Imports from a module to one in a higher layer."""
    found = []
    for edge in graph.edges:
        low, high = layer_of(edge.source), layer_of(edge.target)
        if low is not None and high is not None and high > low:
            found.append(edge)
    return found


def cycles(graph: Graph) -> list[list[str]]:
    """The import cycles: each strongly connected set of two or more modules, sorted."""
    adjacency = {m: graph.targets(m) for m in graph.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(start: str) -> None:
        # Tarjan's algorithm, iterative (no recursion limit on a deep graph).
        work = [(start, iter(adjacency[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(adjacency[child])))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))

    for module in graph.modules:
        if module not in index:
            visit(module)
    return sorted(found)


def io_in_sans_io(graph: Graph) -> dict[str, list[str]]:
    """The I/O libraries each sans-IO module imports (only modules that import one)."""
    found = {}
    for module, libraries in sorted(graph.libraries.items()):
        layer = layer_of(module)
        if layer is not None and layer < SANS_IO_LAYERS and libraries & IO_LIBRARIES:
            found[module] = sorted(libraries & IO_LIBRARIES)
    return found


# --- the picture ------------------------------------------------------------------------------


def _label(edge: Edge) -> str:
    return edge.target if edge.kind == "module" else f"{edge.target} ({edge.kind})"


def draw(graph: Graph) -> str:
    """The Markdown picture: layers top to bottom, each module with what it imports."""
    lines = [
        "# Import graph",
        "",
        "<!-- Generated by `python tools/import_graph.py --write`; tests/test_layers.py fails",
        "     when this page differs from what the script draws from src/. -->",
        "",
        "How the modules of `scoped_openai` depend on each other, read from their `import`",
        "statements. Layers run top to bottom: a module imports from its own layer or the",
        "layers below it, never from a layer above, and no two modules import each other,",
        "directly or around a loop. The two bottom layers (the sans-IO core and the protocol",
        "parsers) import no I/O library. `tests/test_layers.py` holds the code to these rules.",
        "",
        "Imports are at module level unless marked: *lazy* is inside a function (still a",
        "dependency), *typing* is under `TYPE_CHECKING` (a type names its module). Names are",
        "relative to `scoped_openai`.",
        "",
        "## Layers",
        "",
        "```text",
    ]
    lines.extend(_layer_diagram(graph))
    lines.extend(["```", ""])
    for index in reversed(range(len(LAYERS))):
        name = LAYERS[index][0]
        lines.extend([f"## {index + 1}. {name}", ""])
        for module in graph.modules:
            if layer_of(module) != index:
                continue
            imported = sorted(
                {_label(e) for e in graph.edges if e.source == module},
            )
            shown = ", ".join(f"`{m}`" for m in imported) if imported else "nothing"
            lines.append(f"- `{module}` imports {shown}")
        lines.append("")
    problems = _problems(graph)
    lines.extend(["## Rule breaks", ""])
    lines.extend(problems or ["None."])
    return "\n".join(lines).rstrip() + "\n"


def _layer_diagram(graph: Graph) -> list[str]:
    """One box per layer, top first, naming the lower layers it imports from."""
    width = max(len(name) for name, _ in LAYERS) + 7
    out: list[str] = []
    for index in reversed(range(len(LAYERS))):
        name = LAYERS[index][0]
        used = sorted(
            {
                layer_of(e.target)
                for e in graph.edges
                if layer_of(e.source) == index and layer_of(e.target) != index
            },
            key=lambda i: -1 if i is None else i,
            reverse=True,
        )
        uses = ", ".join(str(i + 1) if i is not None else "?" for i in used) or "no layer"
        count = sum(1 for m in graph.modules if layer_of(m) == index)
        box = f"| {index + 1}. {name}".ljust(width + 1)
        out.append("+" + "-" * width + "+")
        modules = "module" if count == 1 else "modules"
        out.append(f"{box}|  {count} {modules}; imports from {uses}")
    out.append("+" + "-" * width + "+")
    return out


def _problems(graph: Graph) -> list[str]:
    out = [f"- `{m}` is in no layer" for m in unplaced(graph)]
    out += [f"- cycle: {' <-> '.join(f'`{m}`' for m in cycle)}" for cycle in cycles(graph)]
    out += [
        f"- up a layer: `{e.source}` imports `{e.target}` (line {e.line}, {e.kind})"
        for e in upward_edges(graph)
    ]
    out += [
        f"- `{m}` (sans-IO) imports {', '.join(libs)}" for m, libs in io_in_sans_io(graph).items()
    ]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"rewrite {PICTURE.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    picture = draw(read_graph())
    if args.write:
        PICTURE.write_text(picture, encoding="utf-8")
    else:
        sys.stdout.write(picture)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
