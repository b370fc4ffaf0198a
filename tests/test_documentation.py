"""The documentation is checked against the code (datasette's habit): a command, an action, a check kind or a
setting added without its documentation fails here, and the message names what to document where."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer.main
from pydantic import BaseModel

import lbi.envs
from lbi.cli import app
from lbi.config import Config
from lbi.envs import BaseEnv, list_envs
from lbi.envs.base import Task
from lbi.envs.checks import check_kinds
from lbi.envs.registry import BUILTIN_MODULES
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
ENVS_DOC = (ROOT / "docs" / "envs.md").read_text(encoding="utf-8")
ENV_NAMES = list_envs()  # at collection, before any test registers a toy env of its own
CHECK_KINDS = check_kinds()


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[str]:
    """Every command a user can run, as typed after `lbi` (`init`, `llm ask`, `env demo start`...)."""
    subcommands = getattr(command, "commands", None)
    if not subcommands:
        yield " ".join(path)
        return
    for name, sub in subcommands.items():
        if not getattr(sub, "hidden", False):
            yield from _commands(sub, (*path, name))


def _env_classes() -> Iterator[type[BaseEnv]]:
    """Every environment class lbi ships (a subclass of BaseEnv in a module of `lbi.envs`)."""
    seen: set[type] = set()
    for module_info in pkgutil.walk_packages(lbi.envs.__path__, "lbi.envs."):
        module = importlib.import_module(module_info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseEnv) and cls is not BaseEnv and cls not in seen:
                seen.add(cls)
                yield cls


def _actions() -> list[tuple[str, str]]:
    return sorted({(cls.__name__, name) for cls in _env_classes() for name in cls.actions})


def _sections(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted name, field) for every setting of lbi.toml, nested sections and judge entries included."""
    for name, field in model.model_fields.items():
        yield f"{prefix}{name}", field
        annotation = field.annotation
        inner = [a for a in getattr(annotation, "__args__", ()) if isinstance(a, type)]
        for kind in ([annotation] if isinstance(annotation, type) else []) + inner:
            if issubclass(kind, BaseModel):
                yield from _sections(kind, f"{prefix}{name}.")


COMMANDS = sorted(_commands(typer.main.get_command(app)))


def test_the_walk_finds_the_commands() -> None:
    assert {"init", "llm ask", "env demo start", "export"} <= set(COMMANDS)
    assert len(COMMANDS) >= 25


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_is_in_the_readme(command: str) -> None:
    shown = re.search(rf"`lbi {re.escape(command)}(?=[ `])", README) is not None
    assert shown, f"README.md does not show `lbi {command}`: add it to the CLI table"


@pytest.mark.parametrize("name", ENV_NAMES)
def test_every_registered_env_is_in_the_env_docs(name: str) -> None:
    assert f"`{name}`" in ENVS_DOC, f"docs/envs.md does not describe the environment `{name}`"


def test_the_walk_finds_the_env_classes() -> None:
    names = {cls.__name__ for cls in _env_classes()}
    assert {"WebEnv", "SqlEnv", "ShellEnv"} <= names


@pytest.mark.parametrize(("env_class", "action"), _actions())
def test_every_action_is_in_the_env_docs(env_class: str, action: str) -> None:
    assert f"`{action}(" in ENVS_DOC, f"docs/envs.md does not document {env_class}'s action `{action}(...)`"


@pytest.mark.parametrize("kind", CHECK_KINDS)
def test_every_check_kind_is_in_the_env_docs(kind: str) -> None:
    row = re.search(rf"^\|[^|\n]*`{re.escape(kind)}`", ENVS_DOC, re.M) is not None
    assert row, f"docs/envs.md's check-kind table has no row for `{kind}`"


@pytest.mark.parametrize(("setting", "field"), [pytest.param(n, f, id=n) for n, f in _sections(Config)])
def test_every_setting_has_a_docstring(setting: str, field: Any) -> None:
    documented = bool((field.description or "").strip())
    assert documented, f"lbi/config.py: give `{setting}` a docstring (it becomes its comment in lbi.toml)"


def _packages() -> list[str]:
    """Every package of lbi, as a folder relative to the repository (`lbi`, `lbi/envs/web`...)."""
    return sorted(str(init.parent.relative_to(ROOT)) for init in (ROOT / "lbi").rglob("__init__.py"))


@pytest.mark.parametrize("package", _packages())
def test_every_package_docstring_names_its_modules(package: str) -> None:
    folder = ROOT / package
    doc = ast.get_docstring(ast.parse((folder / "__init__.py").read_text(encoding="utf-8"))) or ""
    parts = {p.stem for p in folder.glob("*.py") if p.stem not in ("__init__", "__main__")}
    parts |= {p.name for p in folder.iterdir() if (p / "__init__.py").is_file()}
    unnamed = sorted(name for name in parts if not re.search(rf"`{re.escape(name)}[`./(\s:]", doc))
    assert not unnamed, f"{package}/__init__.py: say in its docstring what {', '.join(unnamed)} hold(s) (as `name`)"


ENV_WORD = r"\b(?:" + "|".join(map(re.escape, sorted(BUILTIN_MODULES, key=len, reverse=True))) + r")\b"
_NAME = rf"`{{0,2}}{ENV_WORD}`{{0,2}}(?:\s*\([^()]*\))?"  # `name`, ``name``, name; a remark in brackets may follow
_SEP = r"(?:\s*[,/|]\s*(?:and\s+|or\s+)?|\s+and\s+|\s+or\s+)"
ENV_LIST = re.compile(rf"{_NAME}(?:{_SEP}{_NAME}){{3,}}")
"""Four or more environment names in a row (``web, trac, sql and shell``) are a list of the environments;
fewer are examples (``sql/shell/repo``), which need not name them all."""


def _env_lists(text: str) -> Iterator[tuple[str, set[str]]]:
    for match in ENV_LIST.finditer(text):
        yield match.group(0), set(re.findall(ENV_WORD, re.sub(r"\([^()]*\)", "", match.group(0))))


def _texts() -> Iterator[tuple[str, str]]:
    """(where, text) of every docstring and string of lbi's code, every field description of lbi.toml and of a
    task, and the Markdown documentation."""
    for path in sorted((ROOT / "lbi").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                yield f"{path.relative_to(ROOT)}:{node.lineno}", node.value
    for name, field in [*_sections(Config), *_sections(Task)]:
        yield f"the description of {name}", field.description or ""
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        yield str(path.relative_to(ROOT)), path.read_text(encoding="utf-8")


def test_the_env_list_finder_finds_lists() -> None:
    assert [names for _, names in _env_lists("by name (`web`, `trac`, `sql`, `shell`, `repo`)")] == [
        {"web", "trac", "sql", "shell", "repo"}
    ]
    assert [names for _, names in _env_lists("``web`` (Playwright), ``trac`` (the demo), sql and shell")] == [
        {"web", "trac", "sql", "shell"}
    ]
    assert list(_env_lists("a system message for sql/shell/repo; the web env")) == []
    assert len(BUILTIN_MODULES) == 7


def test_every_list_of_environments_names_them_all() -> None:
    everything = set(BUILTIN_MODULES)
    stale = [
        f"{where}: {text!r} lacks {', '.join(sorted(everything - names))}"
        for where, body in _texts()
        for text, names in _env_lists(body)
        if names != everything
    ]
    assert not stale, "name every environment of the registry in these lists:\n" + "\n".join(stale)
