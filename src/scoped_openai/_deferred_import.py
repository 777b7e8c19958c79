"""Packages (and modules of an import cycle) in ``sys.modules`` whose body runs on first use.

Three uses, all to keep an import off the event loop's single steps:

- A package whose ``__init__`` imports all its submodules (httpcore, h11, hpack) cannot be
  imported a module per step: its first submodule brings the whole package. ``defer`` puts
  the package in ``sys.modules`` without running its ``__init__``; its submodules are then
  imported one per step (``_stepwise_import``), and ``complete`` runs the ``__init__`` last,
  which finds them all imported.
- httpcore imports trio whenever trio is installed, though it uses trio only in a trio app.
  In an asyncio app that is about 85 ms of trio's import in one step, 17 module bodies of over
  2 ms each (``trio._core._run`` and ``attr._make`` about 17 ms each on this project's
  machine, under load). ``defer_until_used("trio")`` gives httpcore a ``trio`` that imports
  itself on first use: an asyncio app never runs trio's import; a trio app in the same
  process gets the one real module (the same object, completed in place) the moment anything
  touches it.

- Modules that import each other in a cycle (``websockets``' exceptions, frames,
  extensions and http11) run as one import: the first one's body imports the others at its
  end. ``defer_module`` puts the others in ``sys.modules`` first, so each body runs alone
  and binds the others unrun; each is completed in a step of its own.

Whatever touches a deferred package before its turn (an attribute, ``from x import y``)
completes it at once, in place: a deferred package is never seen half made. Its submodules
do not need it complete (these packages' ``__init__`` only re-exports).
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from types import ModuleType
from typing import Any

_lock = threading.RLock()  # completing twice at once (two threads) would run __init__ twice


class _Completion:
    """The module's ``__getattr__`` until its ``__init__`` has run (PEP 562: called only
    for names the module does not have yet)."""

    __slots__ = ("module", "path")

    def __init__(self, module: ModuleType, path: list[str] | None) -> None:
        self.module = module
        self.path = path  # a package's __path__, held back when any submodule import
        # should complete it first (``defer_until_used``)

    def __call__(self, name: str) -> Any:
        complete(self.module)
        return getattr(self.module, name)


def is_deferred(module: object) -> bool:
    """Whether ``module`` is a deferred package (or module) whose body has not run."""
    return isinstance(getattr(module, "__dict__", {}).get("__getattr__"), _Completion)


def defer(name: str, *, until_used: bool = False) -> bool:
    """Put package ``name`` in ``sys.modules`` without running its ``__init__``.

    With ``until_used``, importing any of its submodules also completes it first (its
    ``__path__`` is held back until then). Returns False, doing nothing, when ``name`` is
    imported already or not installed.
    """
    if name in sys.modules:
        return False
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return False
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return False
    module = importlib.util.module_from_spec(spec)
    path = module.__dict__.pop("__path__") if until_used else None
    module.__dict__["__getattr__"] = _Completion(module, path)
    sys.modules[name] = module
    parent_name, _, child = name.rpartition(".")
    if parent_name in sys.modules:  # as the import system binds an imported submodule
        setattr(sys.modules[parent_name], child, module)
    return True


def defer_module(name: str) -> bool:
    """Put module ``name`` (a plain module or a package) in ``sys.modules``, and on its
    package, without running its body: a module that imports it back in a cycle binds it
    and runs on, and ``complete`` (or its first use) runs the body in a later step. Returns
    False, doing nothing, when ``name`` is imported already or not installed."""
    parent_name, _, child = name.rpartition(".")
    parent = sys.modules.get(parent_name)
    if name in sys.modules or parent is None:
        return False
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return False
    if spec is None or spec.loader is None:
        return False
    module = importlib.util.module_from_spec(spec)
    module.__dict__["__getattr__"] = _Completion(module, None)
    sys.modules[name] = module
    setattr(parent, child, module)  # what the import system does for an imported submodule
    return True


def defer_until_used(name: str) -> bool:
    """``defer(name, until_used=True)``: nothing of ``name`` runs until it is used."""
    return defer(name, until_used=True)


def complete(module: ModuleType) -> None:
    """Run a deferred package's ``__init__`` in place (nothing if it has run), then its
    subpackages' still deferred (one only ever reached through its submodules would not run
    otherwise). On failure the package leaves ``sys.modules``, as a failed import does, and
    the error propagates."""
    with _lock:
        _run_init(module)
        prefix = module.__name__ + "."
        for name, sub in list(sys.modules.items()):
            if name.startswith(prefix) and is_deferred(sub):
                _run_init(sub)


def _run_init(module: ModuleType) -> None:
    """Run a deferred package's ``__init__`` in place, if it has not run."""
    with _lock:
        completion = module.__dict__.get("__getattr__")
        if not isinstance(completion, _Completion):
            return
        del module.__dict__["__getattr__"]
        if completion.path is not None:
            module.__dict__["__path__"] = completion.path
        spec = module.__spec__
        assert spec is not None
        assert spec.loader is not None
        spec._initializing = True  # type: ignore[attr-defined]  # what the import system sets
        try:
            spec.loader.exec_module(module)
        except BaseException:
            if sys.modules.get(spec.name) is module:
                del sys.modules[spec.name]
            raise
        finally:
            spec._initializing = False  # type: ignore[attr-defined]
