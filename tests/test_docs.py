"""The docs site covers the public API and the command line, by public names only. The
strict build itself runs in the docs session (``nox -s docs``, offline); these checks need
no mkdocs, so a missing page or name fails the ordinary test run too."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import scoped_openai
import scoped_openai.testing
from scoped_openai.__main__ import _parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = {path.name: path.read_text(encoding="utf-8") for path in DOCS.glob("*.md")}
RENDERED = {name for text in PAGES.values() for name in re.findall(r"^::: ([\w.]+)", text, re.M)}


@pytest.mark.parametrize(
    ("module", "names"),
    [
        (scoped_openai.__name__, scoped_openai.__all__),
        (scoped_openai.testing.__name__, scoped_openai.testing.__all__),
    ],
)
def test_every_public_name_has_a_reference_entry(module: str, names: list[str]) -> None:
    missing = [name for name in names if f"{module}.{name}" not in RENDERED]
    assert missing == []


def test_no_page_renders_a_private_module() -> None:
    assert [name for name in RENDERED if "._" in name] == []


def test_every_page_is_in_the_navigation_and_every_entry_exists() -> None:
    mkdocs = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    navigation = set(re.findall(r"^  - [^:]+: (\S+\.md)$", mkdocs, re.M))
    assert navigation == set(PAGES)


def test_included_readme_sections_exist() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for text in PAGES.values():
        for section in re.findall(r'^--8<-- "README\.md:([\w-]+)"$', text, re.M):
            assert f"<!-- --8<-- [start:{section}] -->" in readme, section
            assert f"<!-- --8<-- [end:{section}] -->" in readme, section


def test_the_cli_page_lists_every_option() -> None:
    parser = _parser()
    options = {flag for action in parser._actions for flag in action.option_strings}
    assert {"--backend", "--websocket", "--base-url", "--version"} <= options
    assert [flag for flag in sorted(options) if f"`{flag}" not in PAGES["cli.md"]] == []


def test_exceptions_are_named_where_users_import_them() -> None:
    errors = [
        value
        for value in map(scoped_openai.__dict__.get, scoped_openai.__all__)
        if isinstance(value, type) and issubclass(value, BaseException)
    ]
    assert len(errors) >= 16
    assert [e.__name__ for e in errors if e.__module__ != "scoped_openai"] == []
