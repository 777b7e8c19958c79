"""Deferred packages: in ``sys.modules`` before their ``__init__`` runs, completed in place on
first use, never seen half made, and gone again when their ``__init__`` fails."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from scoped_openai._deferred_import import complete, defer, defer_until_used, is_deferred


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A package whose ``__init__`` imports its submodule and counts its own runs."""
    name = f"deferred_pkg_{tmp_path.name.replace('-', '_')}"
    root = tmp_path / name
    root.mkdir()
    (root / "__init__.py").write_text(
        "import builtins\n"
        "builtins.deferred_runs = getattr(builtins, 'deferred_runs', 0) + 1\n"
        "from .leaf import VALUE\n"
        "EXPORTED = VALUE * 2\n"
    )
    (root / "leaf.py").write_text("VALUE = 21\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr("builtins.deferred_runs", 0, raising=False)
    yield name
    for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[module]


def runs() -> int:
    import builtins

    return int(builtins.deferred_runs)  # type: ignore[attr-defined]


def test_a_deferred_package_lets_its_submodule_import_first_and_completes_on_use(
    package: str,
) -> None:
    assert defer(package) is True
    leaf = importlib.import_module(f"{package}.leaf")
    assert leaf.VALUE == 21
    assert runs() == 0
    module = sys.modules[package]
    assert is_deferred(module)
    assert module.EXPORTED == 42  # first use: __init__ runs in place, once
    assert runs() == 1
    assert not is_deferred(module)
    assert sys.modules[package] is module
    complete(module)  # already complete: nothing runs again
    assert runs() == 1


def test_from_import_of_a_deferred_package_completes_it(package: str) -> None:
    defer(package)
    namespace: dict[str, object] = {}
    exec(f"from {package} import EXPORTED", namespace)
    assert namespace["EXPORTED"] == 42
    assert runs() == 1


def test_until_used_even_a_submodule_import_completes_the_package_first(package: str) -> None:
    assert defer_until_used(package) is True
    assert runs() == 0
    importlib.import_module(f"{package}.leaf")
    assert runs() == 1
    assert not is_deferred(sys.modules[package])
    assert sys.modules[package].__path__  # given back before its __init__ ran


def test_a_failing_init_leaves_sys_modules_as_a_failed_import_does(package: str) -> None:
    defer(package)
    (Path(sys.modules[package].__file__ or "")).write_text("raise ImportError('broken')\n")
    importlib.invalidate_caches()
    with pytest.raises(ImportError, match="broken"):
        complete(sys.modules[package])
    assert package not in sys.modules


def test_imported_or_missing_packages_and_plain_modules_are_not_deferred(package: str) -> None:
    assert defer("json") is False  # imported already
    assert defer("scoped_openai_no_such_package") is False
    assert defer(f"{package}.leaf") is False  # a module, not a package (its package gets
    assert package not in sys.modules or not is_deferred(sys.modules[package])  # imported)


def test_completing_a_package_completes_its_subpackages_still_deferred(
    package: str, tmp_path: Path
) -> None:
    sub = tmp_path / package / "sub"
    sub.mkdir()
    (sub / "__init__.py").write_text("import builtins\nbuiltins.deferred_runs += 10\n")
    (sub / "leaf.py").write_text("")
    defer(package)
    defer(f"{package}.sub")
    importlib.import_module(f"{package}.sub.leaf")  # reached through its submodule only
    assert is_deferred(sys.modules[f"{package}.sub"])
    complete(sys.modules[package])  # its __init__ never touches .sub: completed all the same
    assert runs() == 11
    assert not is_deferred(sys.modules[f"{package}.sub"])
