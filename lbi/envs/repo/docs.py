"""A repository's own documentation as a folder that ``lbi docs add`` loads with the existing loaders.

Three sources, as a developer would read them: the README at the top, the ``docs/`` (or ``doc/``) folder's
reStructuredText, Markdown and text files, and the package's docstrings, written as one Markdown page per
module (``api/<module>.md``: the module's docstring, then each public class, function and method with its
signature and docstring). Docstrings are read with `ast`; nothing of the repository is imported or run.
Test files, ``setup.py``, ``conftest.py`` and Sphinx's ``conf.py`` are left out.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path, PurePosixPath

DOC_SUFFIXES = (".rst", ".md", ".markdown", ".txt")
DOC_DIRS = ("docs", "doc")
NOT_API = ("setup.py", "conftest.py", "conf.py", "noxfile.py", "fabfile.py")


def write_docs(tree: Path, out: Path, files: list[str]) -> Path:
    """Write the README, the docs folder's pages and the API pages of ``tree`` (whose files are ``files``,
    relative paths) under ``out``; returns ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    for rel in files:
        path = PurePosixPath(rel)
        source = tree / rel
        if source.is_symlink() or not source.is_file():
            continue
        readme = len(path.parts) == 1 and path.name.upper().startswith("README")
        in_docs = path.parts[0] in DOC_DIRS and path.suffix.lower() in DOC_SUFFIXES
        if readme or in_docs:
            target = out / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    for rel, module in api_modules(files):
        page = api_page(module, tree / rel)
        if page:
            (out / "api").mkdir(exist_ok=True)
            (out / "api" / f"{module}.md").write_text(page, encoding="utf-8")
    return out


def api_modules(files: list[str]) -> list[tuple[str, str]]:
    """(path, dotted module name) of the package's Python files: not tests, docs or build scripts; a ``src/``
    layout's prefix dropped."""
    found = []
    for rel in files:
        path = PurePosixPath(rel)
        if (
            path.suffix != ".py"
            or path.name in NOT_API
            or path.name.startswith("test_")
            or path.name.endswith("_test.py")
        ):
            continue
        parts = list(path.with_suffix("").parts)
        if parts[0] in ("tests", "test", "testing", *DOC_DIRS, "examples", "scripts", "benchmarks"):
            continue
        if parts[0] == "src" and len(parts) > 1:
            parts = parts[1:]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts:
            found.append((rel, ".".join(parts)))
    return found


def api_page(module: str, path: Path) -> str:
    """One module's docstrings as Markdown; empty when the module documents nothing public."""
    try:
        tree = ast.parse(path.read_bytes())
    except (SyntaxError, ValueError, OSError):
        return ""
    sections: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and _public(node.name):
            sections.append(_entry("##", f"class {node.name}{_class_args(node)}", node))
            for item in node.body:
                if (
                    isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
                    and _public(item.name)
                    and ast.get_docstring(item)
                ):
                    sections.append(_entry("###", f"{node.name}.{item.name}{_signature(item)}", item))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _public(node.name):
            sections.append(_entry("##", f"{node.name}{_signature(node)}", node))
    intro = ast.get_docstring(tree) or ""
    if not intro and not any(
        ast.get_docstring(n)
        for n in ast.walk(tree)
        if isinstance(n, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
    ):
        return ""
    return "\n\n".join([f"# API: {module}", intro, *sections]).strip() + "\n"


def _public(name: str) -> bool:
    return not name.startswith("_")


def _entry(level: str, heading: str, node: ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    doc = ast.get_docstring(node) or "(no docstring)"
    return f"{level} {heading}\n\n{doc}"


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
    return f"({ast.unparse(node.args)}){returns}"


def _class_args(node: ast.ClassDef) -> str:
    init = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
    return f"({ast.unparse(init.args)})" if init else ""
