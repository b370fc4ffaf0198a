"""Pristine snapshots of a repository, and the episode trees made from them (for the ``repo`` environment).

A *snapshot* is built once per source and reused by every episode and every process: the source's files
(a folder, e.g. a git work tree or an unpacked sdist, or a ``.tar.gz``/``.zip`` archive such as an sdist) are
copied without their history and junk (``.git``, ``__pycache__``, virtualenvs...), committed as the one
commit of a fresh git repository, and byte-compiled, all inside the sandbox. It lives in
``<cache_dir>/<name>-<fingerprint>/`` (``tree/`` plus ``meta.json``: the files, Python symbols and test
functions, for the explore policy) and is rebuilt when the source changes (the fingerprint covers every
file's path, size and modification time, or the archive's bytes).

An *episode tree* is a copy of the snapshot's tree (``cp --reflink=auto -a``: a reflink where the file system
has them, else a plain copy; a few MB take a few tens of ms). A task may start from a changed repository
(``start = {"patch": "<unified diff>"}``: the injected bug of a bug-fix task): the patch is applied and the
history started again, so the base commit holds the patched tree and nothing in ``.git`` shows the patch.
Git runs only inside the sandbox, as the sandbox user, never on the host.
"""

from __future__ import annotations

import ast
import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from lbi.envs.base import EnvCrashed
from lbi.envs.repo.docs import write_docs
from lbi.envs.sandbox import NOBODY, run_sandboxed

TESTBED = "/testbed"
SNAPSHOT_VERSION = 1  # bump when the snapshot's layout changes: old snapshots are then rebuilt
SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "__pycache__",
        ".pytest_cache",
        ".mypy_cache",
        ".ruff_cache",
        ".tox",
        ".nox",
        ".venv",
        "venv",
        ".eggs",
        "node_modules",
        ".idea",
        ".vscode",
    }
)
IGNORED = (
    "__pycache__/",
    "*.py[cod]",
    ".pytest_cache/",
    "*.egg-info/",
    ".eggs/",
    ".tox/",
    ".mypy_cache/",
    ".ruff_cache/",
    ".coverage",
    "build/",
    "dist/",
)
"""Written to ``.git/info/exclude`` of every tree: what running the code and its tests leaves behind is not
part of the agent's diff."""
SANDBOX_ENV = {
    "HOME": "/tmp",
    "PYTHONPATH": f"{TESTBED}/src:{TESTBED}",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_PAGER": "cat",
    "PAGER": "cat",
    "GIT_AUTHOR_NAME": "lbi",
    "GIT_AUTHOR_EMAIL": "lbi@localhost",
    "GIT_COMMITTER_NAME": "lbi",
    "GIT_COMMITTER_EMAIL": "lbi@localhost",
    "GIT_AUTHOR_DATE": "2000-01-01T00:00:00+0000",
    "GIT_COMMITTER_DATE": "2000-01-01T00:00:00+0000",
}
"""The environment of every command: the package importable as an editable install would make it (a ``src/``
layout or a flat one), and git's names and dates fixed, so the same tree always gives the same base commit and a
reset is deterministic."""
INIT_REPO = (
    "git init -q && printf '%s\\n' " + " ".join(f"'{p}'" for p in IGNORED) + " >> .git/info/exclude"
    ' && git add -A && git commit -q --no-verify -m "$LBI_MESSAGE" && git rev-parse HEAD'
)


class Symbol(BaseModel):
    """A top-level function or class, or a method, of a Python file of the snapshot."""

    name: str
    kind: str = Field(description="function, class or method")
    path: str
    line: int


class SnapshotMeta(BaseModel):
    """What the snapshot holds, read once at build time (from the copy, never by importing it)."""

    name: str
    source: str
    fingerprint: str
    base: str = Field(description="The commit of the pristine tree.")
    files: list[str] = Field(default_factory=list)
    symbols: list[Symbol] = Field(default_factory=list)
    tests: list[str] = Field(default_factory=list, description="Test functions as pytest node ids.")
    bytes: int = 0


class Snapshot(BaseModel):
    root: Path
    meta: SnapshotMeta

    @property
    def tree(self) -> Path:
        return self.root / "tree"

    @property
    def docs(self) -> Path:
        """The repository's own documentation, gathered at build time (`lbi.envs.repo.docs`)."""
        return self.root / "docs"


def sandboxed(
    tree: Path,
    command: str,
    *,
    timeout_s: float = 60.0,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """`run_sandboxed` with ``tree`` mounted at /testbed in `SANDBOX_ENV`."""
    return run_sandboxed(
        tree,
        command,
        timeout_s=timeout_s,
        mount=TESTBED,
        env={**SANDBOX_ENV, **(env or {})},
        stdin=None if stdin is None else stdin.encode(),
        **kwargs,
    )


def _must(res: dict[str, Any], what: str) -> str:
    if res["exit_code"] != 0:
        why = "timed out" if res["timed_out"] else (res["stderr"].strip() or res["stdout"].strip())[-600:]
        raise EnvCrashed(f"{what} failed: {why or 'exit ' + str(res['exit_code'])}")
    return str(res["stdout"])


# -- the snapshot ---------------------------------------------------------------------------------------
def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lbi" / "repo-snapshots"


def default_workdir_root() -> Path | None:
    """Where episode trees go by default: ``/dev/shm`` (memory) when it is there, else the system temp dir
    (None). Trees are small and copied at every reset and every tests check; here a copy of a few hundred files
    takes ~20 ms in memory and ~300 ms (up to seconds when the disk is busy) on disk. Memory is what a runaway
    command would fill, so every command is watched (`size_watch`)."""
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK) else None


def size_watch(root: Path, max_mb: float) -> Callable[[], str | None]:
    """A `run_sandboxed` watch that stops a command once ``root`` takes more than ``max_mb`` (checked every
    0.2 s: a command writing at memory speed overshoots by a few hundred MB at most)."""

    def watch() -> str | None:
        used = disk_usage(root) / 2**20
        return f"the tree grew to {used:.0f} MB, more than {max_mb:g} MB" if used > max_mb else None

    return watch


def disk_usage(root: Path) -> int:
    """Bytes a folder takes on disk (allocated blocks; symlinks not followed, so an agent's link leads nowhere)."""
    total = 0
    stack = [root]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                total += entry.stat(follow_symlinks=False).st_blocks * 512
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
            except OSError:
                continue
    return total


def fingerprint(source: Path) -> str:
    """A short hash of what a snapshot of ``source`` would hold (folder: paths, sizes, mtimes; archive: bytes)."""
    digest = hashlib.sha256(f"v{SNAPSHOT_VERSION}".encode())
    if source.is_file():
        with source.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    else:
        for path in _source_files(source):
            stat = path.stat()
            digest.update(f"{path.relative_to(source)}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    return digest.hexdigest()[:12]


def _source_files(source: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(source):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info"))
        found += [Path(dirpath, f) for f in sorted(filenames) if not f.endswith((".pyc", ".pyo"))]
    return found


def snapshot_name(source: Path) -> str:
    name = source.name
    for suffix in (".tar.gz", ".tgz", ".tar", ".zip"):
        name = name.removesuffix(suffix)
    return name or "repo"


def ensure_snapshot(
    source: str | Path, cache_dir: str | Path | None = None, *, max_mb: float = 200.0, timeout_s: float = 120.0
) -> Snapshot:
    """The snapshot of ``source`` (built now if it is missing or the source changed). Raises `EnvCrashed` when
    the source cannot be read or is larger than ``max_mb``."""
    source = Path(source).expanduser().resolve()
    if not source.exists():
        raise EnvCrashed(f"repository {source} does not exist")
    cache = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    root = cache / f"{snapshot_name(source)}-{fingerprint(source)}"
    if (root / "meta.json").is_file():
        return Snapshot(root=root, meta=SnapshotMeta.model_validate_json((root / "meta.json").read_text()))
    cache.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".build-{root.name}-", dir=cache))
    try:
        meta = _build(source, build, root.name.rsplit("-", 1)[-1], max_mb, timeout_s)
        (build / "meta.json").write_text(meta.model_dump_json())
        write_docs(build / "tree", build / "docs", meta.files)
        try:
            build.rename(root)  # atomic; another process may have built the same snapshot meanwhile
        except OSError:
            if not (root / "meta.json").is_file():
                raise
    finally:
        if build.exists():
            _remove(build)
    return Snapshot(root=root, meta=meta)


def _build(source: Path, build: Path, fp: str, max_mb: float, timeout_s: float) -> SnapshotMeta:
    tree = build / "tree"
    if source.is_file():
        _unpack(source, tree)
    else:
        tree.mkdir()
        for path in _source_files(source):
            target = tree / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target, follow_symlinks=False)
    size = sum(p.stat().st_size for p in tree.rglob("*") if p.is_file() and not p.is_symlink())
    if size > max_mb * 1024 * 1024:
        raise EnvCrashed(f"repository {source} holds {size / 1e6:.0f} MB, more than max_repo_mb={max_mb:g}")
    _own(tree)
    name = snapshot_name(source)
    base = _must(
        sandboxed(
            tree,
            INIT_REPO + " && python3 -m compileall -q -j 0 . >/dev/null 2>&1; git rev-parse HEAD",
            timeout_s=timeout_s,
            env={"LBI_MESSAGE": f"{name}: snapshot"},
        ),
        "building the snapshot",
    ).split()[-1]
    listed = _must(sandboxed(tree, "git ls-files -z", timeout_s=timeout_s), "listing the files")
    files = [f for f in listed.split("\0") if f]
    symbols, tests = python_symbols(tree, files)
    return SnapshotMeta(
        name=name, source=str(source), fingerprint=fp, base=base, files=files, symbols=symbols, tests=tests, bytes=size
    )


def _unpack(archive: Path, tree: Path) -> None:
    """An archive's files in ``tree``, without the one top-level folder an sdist has; links and devices refused
    (tarfile's ``data`` filter)."""
    tmp = tree.with_name("unpacked")
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    if Path(info.filename).is_absolute() or ".." in Path(info.filename).parts:
                        raise EnvCrashed(f"{archive}: unsafe path {info.filename!r}")
                zf.extractall(tmp)
        else:
            with tarfile.open(archive) as tf:
                tf.extractall(tmp, filter="data")
    except (tarfile.TarError, zipfile.BadZipFile, OSError) as err:
        raise EnvCrashed(f"cannot unpack {archive}: {err}") from err
    entries = list(tmp.iterdir())
    top = entries[0] if len(entries) == 1 and entries[0].is_dir() else tmp
    tree.mkdir()
    for path in _source_files(top):
        target = tree / path.relative_to(top)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, target)
    _remove(tmp)


def _own(tree: Path) -> None:
    """As root, the sandbox runs commands as nobody: the tree is theirs (``cp -a`` keeps that for every copy)."""
    if os.geteuid() != 0:
        return
    for path in [tree, *tree.rglob("*")]:
        os.chown(path, NOBODY, NOBODY, follow_symlinks=False)


def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def python_symbols(tree: Path, files: list[str]) -> tuple[list[Symbol], list[str]]:
    """Functions, classes and methods of the tree's Python files, and its test functions as node ids (parsed
    with `ast`, never imported)."""
    symbols: list[Symbol] = []
    tests: list[str] = []
    for rel in files:
        if not rel.endswith(".py") or (tree / rel).is_symlink():
            continue
        try:
            module = ast.parse((tree / rel).read_bytes())
        except (SyntaxError, ValueError, OSError):
            continue
        is_test = Path(rel).name.startswith("test_") or Path(rel).name.endswith("_test.py")
        for node in module.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                if is_test and node.name.startswith("test"):
                    tests.append(f"{rel}::{node.name}")
                symbols.append(Symbol(name=node.name, kind="function", path=rel, line=node.lineno))
            elif isinstance(node, ast.ClassDef):
                symbols.append(Symbol(name=node.name, kind="class", path=rel, line=node.lineno))
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        if is_test and node.name.startswith("Test") and item.name.startswith("test"):
                            tests.append(f"{rel}::{node.name}::{item.name}")
                        symbols.append(
                            Symbol(name=f"{node.name}.{item.name}", kind="method", path=rel, line=item.lineno)
                        )
    return symbols, tests


# -- episode trees --------------------------------------------------------------------------------------
def make_tree(snapshot: Snapshot, dest: Path, start_patch: str | None = None, *, timeout_s: float = 60.0) -> str:
    """Copy the snapshot's tree to ``dest`` (which must not exist) and return the base commit: the snapshot's,
    or, with ``start_patch``, a fresh repository's one commit of the patched tree."""
    copy = subprocess.run(
        ["cp", "--reflink=auto", "-a", str(snapshot.tree), str(dest)], capture_output=True, text=True, check=False
    )
    if copy.returncode != 0:
        raise EnvCrashed(f"cannot copy the snapshot: {copy.stderr.strip()}")
    if not start_patch:
        return snapshot.meta.base
    out = _must(
        sandboxed(
            dest,
            "git apply --whitespace=nowarn - && rm -rf .git && " + INIT_REPO,
            stdin=start_patch,
            timeout_s=timeout_s,
            env={"LBI_MESSAGE": f"{snapshot.meta.name}: snapshot"},
        ),
        "applying the task's start patch",
    )
    return out.split()[-1]


def working_diff(
    tree: Path, base: str, *, timeout_s: float = 30.0, max_bytes: int = 4_000_000
) -> tuple[str | None, str | None]:
    """The tree's changes against ``base`` as a git diff (new files included, through a scratch index, so the
    agent's own index is untouched); ``(diff, None)`` or ``(None, why not)``."""
    res = sandboxed(
        tree,
        f"cp .git/index /tmp/index 2>/dev/null; export GIT_INDEX_FILE=/tmp/index; "
        f"git add -A . && git diff --cached --binary {base}",
        timeout_s=timeout_s,
        max_output_bytes=max_bytes,
    )
    if res["exit_code"] != 0:
        why = "timed out" if res["timed_out"] else res["stderr"].strip()[-300:]
        return None, f"git diff failed: {why}"
    if res["stdout_bytes"] > max_bytes:
        return None, f"the diff is {res['stdout_bytes']} bytes, more than {max_bytes}"
    return res["stdout"], None
