"""No function in ``src/`` is longer than ``LIMIT`` lines of body (issue 14, point 6).

A body is counted from its first statement after the docstring to its last line, blank
lines and comments included, nested functions included (they are part of what a reader of
the outer one must hold). Exceptions are listed with their reason.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "scoped_openai"

#: The longest body allowed, in lines.
LIMIT = 60

#: ``"path/relative/to/the/package.py Qualified.name"``: why it may be longer. An entry whose
#: function is back under the limit fails ``test_every_exception_is_still_needed``.
EXCEPTIONS: dict[str, str] = {}


def body_lines(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from the first statement after the docstring to the function's last line."""
    body = function.body
    first = body[0]
    has_docstring = (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    )
    if has_docstring:
        if len(body) == 1:
            return 0
        first = body[1]
    assert function.end_lineno is not None
    return function.end_lineno - first.lineno + 1


def functions(tree: ast.AST, prefix: str = "") -> Iterator[tuple[str, int]]:
    """``(qualified name, body lines)`` of every function in ``tree``, nested ones too."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            name = prefix + node.name
            yield name, body_lines(node)
            yield from functions(node, name + ".")
        elif isinstance(node, ast.ClassDef):
            yield from functions(node, prefix + node.name + ".")
        else:
            yield from functions(node, prefix)


def measured() -> dict[str, int]:
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for name, lines in functions(tree):
            found[f"{path.relative_to(SRC).as_posix()} {name}"] = lines
    return found


MEASURED = measured()


def test_no_function_is_longer_than_the_limit() -> None:
    too_long = {
        name: lines for name, lines in MEASURED.items() if lines > LIMIT and name not in EXCEPTIONS
    }
    assert too_long == {}, f"over {LIMIT} lines of body: split into named steps"


def test_every_exception_is_still_needed() -> None:
    # An exception that no longer applies (the function was split or renamed) goes.
    assert {name: MEASURED.get(name) for name in EXCEPTIONS if MEASURED.get(name, 0) <= LIMIT} == {}


def test_the_counting(tmp_path: Path) -> None:
    source = (
        "def short():\n"
        '    """Doc\n    string."""\n'
        "    a = 1\n"
        "\n"
        "    return a\n"
        "class K:\n"
        "    async def method(self):\n"
        "        def inner():\n"
        "            pass\n"
        "        return inner\n"
        "def only_doc():\n"
        '    """Nothing else."""\n'
    )
    assert dict(functions(ast.parse(source))) == {
        "short": 3,
        "K.method": 3,
        "K.method.inner": 1,
        "only_doc": 0,
    }
