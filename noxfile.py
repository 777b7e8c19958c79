"""Sessions: tests per Python and backend, lint, typecheck, examples, bench, soak.

``nox`` (no arguments) runs what CI runs. Interpreters come from pyenv: PYENV_VERSION lists
them so nox finds python3.12/3.13, and a missing interpreter is an error, never a skip.
"""

from __future__ import annotations

import os

import nox

os.environ.setdefault("PYENV_VERSION", "3.11.7:3.12.1:3.13.0")
os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.error_on_missing_interpreters = True
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests", "lint", "typecheck", "examples", "docs"]
nox.options.sessions += ["pipecat"]
nox.options.sessions += ["livekit"]
nox.options.sessions += ["videosdk"]
nox.options.sessions += ["lowest"]

PYTHONS = ["3.11", "3.12", "3.13"]
BACKENDS = ["asyncio", "trio"]


@nox.session(python=PYTHONS)
@nox.parametrize("backend", BACKENDS)
def tests(session: nox.Session, backend: str) -> None:
    """The test suite on one Python and one backend (the framework suites under
    tests/frameworks/ run in their own sessions, with their framework installed)."""
    session.install("-e", ".[test]")
    session.run(
        "pytest",
        "-q",
        "--ignore=tests/frameworks",
        *session.posargs,
        env={"SCOPED_OPENAI_BACKEND": backend},
    )


@nox.session(python="3.11", venv_backend="uv")  # pip has no lowest-version resolution
def lowest(session: nox.Session) -> None:
    """The suite on the lowest versions pyproject allows (every direct dependency at its
    floor, both backends): a floor nobody tests is a guess (anyio 4.7 could not import
    httpx-ws 0.9; httpx-ws 0.7.0 never reported a dropped socket)."""
    session.install("--resolution", "lowest-direct", "-e", ".[test]")
    session.run("pytest", "-q", "--ignore=tests/frameworks", *session.posargs)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff (with the ASYNC rules) and the formatter's check."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", "src", "tests", "benchmarks", "examples", "tools", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "benchmarks", "examples", "tools")


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package, and what a user's type checker sees of the typed
    shortcuts (the one test that needs mypy, skipped in the test sessions)."""
    session.install("-e", ".[test]", "mypy>=1.11")
    session.run("mypy", "--strict", "src/scoped_openai")
    session.run("pytest", "-q", "tests/core/test_response.py", "-k", "type_checkers")


@nox.session(python="3.11")
def examples(session: nox.Session) -> None:
    """Every example runs against the embedded fake, on its backend."""
    session.install("-e", ".[test]")
    env = {"OPENAI_API_KEY": "", "AZURE_OPENAI_ENDPOINT": "", "LOCAL_BASE_URL": ""}
    for path in sorted(os.listdir("examples")):
        if path.endswith(".py") and not path.startswith("_"):
            session.run("python", os.path.join("examples", path), env=env)


@nox.session(python="3.11")
def docs(session: nox.Session) -> None:
    """The docs site (docs/, README sections, the API from the docstrings), built strictly
    and offline: every proxy points at a closed port, so a plugin that reached for the
    network would fail the build instead of quietly depending on it."""
    session.install(
        "-e", ".", "mkdocs>=1.6", "mkdocstrings[python]>=0.26", "pymdown-extensions>=10"
    )
    offline = {name: "http://127.0.0.1:9" for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")}
    session.run("mkdocs", "build", "--strict", "--site-dir", "site", env=offline)


#: LiveKit's own OpenAI plugin, tested side by side with ours (same line as the extra).
LIVEKIT_OPENAI = "livekit-plugins-openai==1.8.9"


@nox.session(python="3.11")
def livekit(session: nox.Session) -> None:
    """The LiveKit Agents plugin inside the real framework, beside LiveKit's own OpenAI
    plugin, and its example. asyncio only: LiveKit Agents runs on asyncio."""
    session.install("-e", ".[test,livekit]", LIVEKIT_OPENAI)
    session.run("pytest", "-q", "tests/frameworks/livekit", *session.posargs)
    env = {"OPENAI_API_KEY": ""}
    session.run("python", "examples/frameworks/livekit_agent.py", env=env)


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Benchmarks (not part of the default run): prints medians and ratios.

    ``nox -s bench -- --quick`` for a smoke run; ``bench_client.py`` also takes
    ``--backend`` and ``--only`` (its docstring), and measures the reference plugin when a
    virtualenv with it exists (``--make-reference-venv``, or ``BENCH_REF_PYTHON``).
    """
    session.install("-e", ".[bench]")
    # Children write bytecode as an installed package has it: with PYTHONDONTWRITEBYTECODE
    # set (some machines' shells), every child compiled every module from source, and the
    # first figures measured the compiler (an empty value counts as unset).
    session.env["PYTHONDONTWRITEBYTECODE"] = ""
    for path in sorted(os.listdir("benchmarks")):
        if path.startswith("bench_") and path.endswith(".py"):
            session.run("python", os.path.join("benchmarks", path), *session.posargs)


@nox.session(python="3.11")
def soak(session: nox.Session) -> None:
    """Soak on loopback sockets (not part of the default run): both backends, every path.

    ``nox -s soak -- --turns 200`` for a shorter run; ``benchmarks/soak.py --help`` lists the
    options (``--seed``, ``--backend``, ``--path``, ``--idle-timeout``...).
    """
    session.install("-e", ".[test]")
    session.run("python", "benchmarks/soak.py", *session.posargs)


@nox.session(python="3.11")
def pipecat(session: nox.Session) -> None:
    """The Pipecat plugin inside real Pipecat from PyPI, on asyncio only (Pipecat runs on
    asyncio): its tests (beside Pipecat's own OpenAI services, pinned) and its example."""
    session.install("-e", ".[test,pipecat]", "pipecat-ai[openai]==1.14.0")
    session.run("pytest", "-q", "tests/frameworks/pipecat", *session.posargs)
    env = {"OPENAI_API_KEY": ""}
    for path in sorted(os.listdir("examples/frameworks")):
        if path.startswith("pipecat") and path.endswith(".py"):
            session.run("python", os.path.join("examples/frameworks", path), env=env)


@nox.session(python="3.11")
def videosdk(session: nox.Session) -> None:
    """The VideoSDK Agents plugin inside the real framework from PyPI, on asyncio only (the
    framework runs on asyncio): its tests, beside VideoSDK's own OpenAI plugin (pinned; it
    also brings the openai SDK the ``client=`` tests pass in), and its example on both paths."""
    session.install("-e", ".[test,videosdk]", "videosdk-plugins-openai==1.0.30")
    env = {"SCOPED_OPENAI_BACKEND": "asyncio"}
    session.run("pytest", "-q", "tests/frameworks/videosdk", *session.posargs, env=env)
    example = os.path.join("examples", "frameworks", "videosdk_agent.py")
    for args in ([], ["--websocket"]):
        session.run("python", example, *args, env={"OPENAI_API_KEY": ""})


@nox.session(python="3.11")
def bench_videosdk(session: nox.Session) -> None:
    """The VideoSDK benchmark (not part of the default run): the reference plugin, the
    drop-in and the plain library on one fake, asyncio only (the framework is). ``nox -s
    bench`` runs the same script, which there says VideoSDK is missing and stops."""
    session.install("-e", ".[bench,videosdk]", "videosdk-plugins-openai==1.0.30")
    session.run("python", "benchmarks/bench_videosdk.py", *session.posargs)
