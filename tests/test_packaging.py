"""What a user installing from PyPI gets: the licence in the distribution, classifiers and
project URLs in its metadata, bounded 0.x dependencies, and a README whose links work
outside the repository (PyPI renders it without the files beside it)."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
REPOSITORY = PYPROJECT["urls"]["Repository"]
#: Where the README's absolute links may point, and the checkout path each one maps to.
LINK_ROOTS = {
    f"{REPOSITORY}/tree/main/": ROOT,
    f"{REPOSITORY}/blob/main/": ROOT,
    REPOSITORY.replace("github.com", "raw.githubusercontent.com") + "/main/": ROOT,
}


def test_the_licence_is_in_the_repository_and_the_metadata() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.lstrip().startswith("Apache License")
    assert "Version 2.0, January 2004" in text
    dist = metadata.metadata("scoped-openai")
    assert dist["License-Expression"] == "Apache-2.0"
    assert "LICENSE" in (dist.get_all("License-File") or [])


def test_classifiers_and_urls_are_in_the_metadata() -> None:
    dist = metadata.metadata("scoped-openai")
    classifiers = dist.get_all("Classifier") or []
    for python in ("3.11", "3.12", "3.13"):
        assert f"Programming Language :: Python :: {python}" in classifiers
    assert "Typing :: Typed" in classifiers
    assert "Framework :: Trio" in classifiers
    urls = dict(entry.split(", ", 1) for entry in dist.get_all("Project-URL") or [])
    assert urls["Repository"] == REPOSITORY
    assert {"Homepage", "Documentation", "Issues"} <= set(urls)


@pytest.mark.parametrize("requirement", PYPROJECT["dependencies"])
def test_every_0x_dependency_has_an_upper_bound(requirement: str) -> None:
    parsed = Requirement(requirement)
    lower = [Version(s.version) for s in parsed.specifier if s.operator in (">=", "==", "~=")]
    if not lower or lower[0].major > 0:
        return  # 1.x and later follow semantic versioning
    assert any(s.operator in ("<", "<=", "==", "~=") for s in parsed.specifier), requirement


def test_readme_links_are_absolute_and_point_at_files_that_exist() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)\)", readme)
    assert targets, "the README has links"
    for target in targets:
        assert target.startswith(("https://", "http://", "#")), f"relative link: {target}"
        for prefix, root in LINK_ROOTS.items():
            if target.startswith(prefix):
                path, _, anchor = target[len(prefix) :].partition("#")
                assert (root / path).exists(), f"dead link: {target}"
                if anchor:
                    assert anchor in _heading_anchors(root / path), f"dead anchor: {target}"


def _heading_anchors(path: Path) -> set[str]:
    """The anchors GitHub gives a Markdown file's headings (lower case, punctuation but
    hyphens dropped, spaces to hyphens)."""
    headings = re.findall(r"^#+ (.+)$", path.read_text(encoding="utf-8"), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}
