"""Deferred packages: in ``sys.modules`` before their ``__init__`` runs, completed in place on
first use, never seen half made, and gone again when their ``__init__`` fails; deferred
modules of a cycle, each body run on its own."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from scoped_openai._deferred_import import (
    complete,
    defer,
    defer_module,
    defer_until_used,
    is_deferred,
)


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


def _subpackage(package: str, tmp_path: Path) -> None:
    """``package.sub`` (its ``__init__`` counts 10 runs and sets ``TEN``) with a ``leaf``."""
    sub = tmp_path / package / "sub"
    sub.mkdir()
    (sub / "__init__.py").write_text("import builtins\nbuiltins.deferred_runs += 10\nTEN = 10\n")
    (sub / "leaf.py").write_text("")


def test_completing_a_package_completes_its_subpackages_still_deferred(
    package: str, tmp_path: Path
) -> None:
    _subpackage(package, tmp_path)
    defer(package)
    defer(f"{package}.sub")
    importlib.import_module(f"{package}.sub.leaf")  # reached through its submodule only
    assert is_deferred(sys.modules[f"{package}.sub"])
    complete(sys.modules[package])  # its __init__ never touches .sub: completed all the same
    assert runs() == 11
    assert not is_deferred(sys.modules[f"{package}.sub"])


def _cycle(package: str, tmp_path: Path) -> None:
    """``first`` imports ``second`` at its end, ``second`` imports ``first`` at its top: the
    shape of websockets' exceptions and frames modules."""
    (tmp_path / package / "first.py").write_text(
        "import builtins\nbuiltins.deferred_runs += 100\nONE = 1\nfrom . import second\n"
    )
    (tmp_path / package / "second.py").write_text(
        "import builtins\nbuiltins.deferred_runs += 1000\nfrom .first import ONE\nTWO = ONE + 1\n"
    )
    importlib.import_module(package)
    assert runs() == 1  # the package's own __init__


def test_a_deferred_module_lets_the_other_side_of_a_cycle_run_alone(
    package: str, tmp_path: Path
) -> None:
    _cycle(package, tmp_path)
    assert defer_module(f"{package}.second") is True
    first = importlib.import_module(f"{package}.first")
    assert runs() == 101  # first's body ran, second's did not
    second = sys.modules[f"{package}.second"]
    assert first.second is second  # bound as the import would
    assert sys.modules[package].second is second
    assert is_deferred(second)
    complete(second)  # a step of its own
    assert runs() == 1101
    assert not is_deferred(second)
    assert second.TWO == 2
    complete(second)  # nothing runs twice
    assert runs() == 1101


def test_a_deferred_module_used_before_its_turn_completes_in_place(
    package: str, tmp_path: Path
) -> None:
    _cycle(package, tmp_path)
    defer_module(f"{package}.second")
    first = importlib.import_module(f"{package}.first")
    assert first.second.TWO == 2  # first use: the body runs now
    assert runs() == 1101
    namespace: dict[str, object] = {}
    exec(f"from {package}.second import TWO", namespace)
    assert namespace["TWO"] == 2
    assert runs() == 1101


def test_a_module_imported_missing_or_without_its_package_is_not_deferred(
    package: str, tmp_path: Path
) -> None:
    assert defer_module("json.decoder") is False  # imported already
    assert defer_module(f"{package}.leaf") is False  # its package is not imported
    importlib.import_module(package)
    assert defer_module(f"{package}.no_such_module") is False
    assert f"{package}.no_such_module" not in sys.modules


def test_a_deferred_subpackage_is_bound_on_its_package_and_completes_on_use(
    package: str, tmp_path: Path
) -> None:
    _subpackage(package, tmp_path)
    importlib.import_module(package)
    assert defer_until_used(f"{package}.sub") is True
    parent = sys.modules[package]
    assert parent.sub is sys.modules[f"{package}.sub"]  # ``import pkg.sub; pkg.sub.x`` works
    assert runs() == 1  # the package's __init__ only
    assert parent.sub.TEN == 10  # first use runs the subpackage's __init__
    assert runs() == 11
