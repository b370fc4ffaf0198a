"""Tasks: an instruction, a start state and a programmatic success check.

A task file is JSON Lines (one task per line), a JSON list, or TOML (``[[task]]`` tables);
see ``docs/envs.md``. ``reference`` is a scripted solution in the env's action grammar;
:func:`run_reference` replays it and the tests require every held-out task to pass.

Check kinds (``check = {"kind": ..., "params": {...}}``):

=================  ==========================================================================
``answer``         the agent's final answer; ``expected`` (str or list of acceptable ones),
                   ``match``: ``exact`` | ``contains`` | ``number`` | ``set`` | ``regex``
``sql_result``     the env's last result set equals that of ``query`` on the pristine database
                   (or literal ``rows``); ``ordered`` (default false)
``db_query``       ``query`` run on the env's current database (``env.db_path``) returns
                   ``expected`` rows (``ordered`` default false)
``page_contains``  the final page (observation text or full page text) contains ``text``
                   (str or list; ``regex`` alternatively); ``absent``: must not contain
``url``            final URL path equals ``path`` or matches ``regex``; ``query``: subset
``file``           sandbox file ``path`` ``exists`` (default true) / ``contains`` / ``equals``
                   / ``regex``
``all`` / ``any``  ``checks``: list of nested checks
=================  ==========================================================================

Add your own kind with :func:`register_check`.
"""

from __future__ import annotations

from lbi.errors import UserError

import json
import re
import sqlite3
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel, Field, ValidationError

from lbi.envs.base import Env, Observation


class CheckSpec(BaseModel):
    """What success means: a check kind and its parameters."""

    kind: str
    params: dict[str, Any] = Field(default_factory=dict)


class Task(BaseModel):
    """One task for an environment."""

    id: str = Field(description="Unique id, e.g. 'trac-web-007'.")
    env: str = Field(description="Registered environment name: web, trac, sql, shell.")
    instruction: str = Field(description="What the user asks the agent to do.")
    start: dict[str, Any] = Field(
        default_factory=dict,
        description="Start state: web {'url': '/path'}; sql {'writable': bool}; "
                    "shell {'files': {path: content}}.")
    check: CheckSpec = Field(description="Programmatic success check.")
    split: Literal["heldout", "synthetic"] = "heldout"
    difficulty: Literal["easy", "medium", "hard"] = "easy"
    reference: list[str] = Field(
        default_factory=list, description="Scripted reference solution (action strings).")
    tags: list[str] = Field(default_factory=list)
    source: str | None = Field(default=None, description="Doc chunk id it came from, if any.")


class CheckResult(BaseModel):
    success: bool
    detail: str = ""
    error: str | None = None


class TaskFileError(UserError):
    """A task file cannot be read; the message names file and line."""


CheckFn = Callable[[Task, Env, Observation, dict[str, Any]], CheckResult]
_CHECKS: dict[str, CheckFn] = {}


def register_check(kind: str, fn: CheckFn) -> None:
    """Add a check kind: ``fn(task, env, final_obs, params) -> CheckResult``."""
    _CHECKS[kind] = fn


def check_kinds() -> list[str]:
    return sorted(_CHECKS)


def check_task(task: Task, env: Env, final_obs: Observation) -> CheckResult:
    """Evaluate the task's check; a check that cannot run returns ``error``, never raises."""
    return _run_check(task, env, final_obs, task.check)


def _run_check(task: Task, env: Env, obs: Observation, spec: CheckSpec) -> CheckResult:
    fn = _CHECKS.get(spec.kind)
    if fn is None:
        return CheckResult(success=False, error=f"unknown check kind {spec.kind!r}; "
                                                f"known: {', '.join(check_kinds())}")
    try:
        return fn(task, env, obs, spec.params)
    except (KeyError, TypeError, ValueError, OSError, sqlite3.Error, re.error) as err:
        return CheckResult(success=False, error=f"{spec.kind} check failed to run: "
                                                f"{type(err).__name__}: {err}")


# -- normalisation -------------------------------------------------------------------------
def _norm(text: Any) -> str:
    return re.sub(r"\s+", " ", str(text)).strip().strip(".").strip().casefold()


def _norm_value(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4) if not value.is_integer() else int(value)
    if isinstance(value, str):
        stripped = value.strip()
        if re.fullmatch(r"-?\d+", stripped):
            return int(stripped)
        return stripped
    return value


def _rows(rows: Any) -> list[tuple[Any, ...]]:
    return [tuple(_norm_value(v) for v in (r if isinstance(r, list | tuple) else [r]))
            for r in rows]


def _same_rows(got: list[tuple[Any, ...]], want: list[tuple[Any, ...]], ordered: bool) -> bool:
    if ordered:
        return got == want
    return sorted(map(repr, got)) == sorted(map(repr, want))


def _query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [tuple(r) for r in conn.execute(sql).fetchall()]
    finally:
        conn.close()


# -- check kinds -----------------------------------------------------------------------------
def _check_answer(task: Task, env: Env, obs: Observation, p: dict[str, Any]) -> CheckResult:
    answer = obs.answer
    if answer is None:
        return CheckResult(success=False, detail="the agent gave no answer (stop/send_msg)")
    expected = p["expected"] if isinstance(p["expected"], list) else [p["expected"]]
    match = p.get("match", "contains")
    got = _norm(answer)
    for exp in expected:
        want = _norm(exp)
        if match == "exact":
            ok = got == want
        elif match == "contains":
            ok = want in got
        elif match == "number":
            nums = re.findall(r"-?\d+(?:\.\d+)?", answer.replace(",", ""))
            ok = any(float(n) == float(exp) for n in nums)
        elif match == "set":
            ok = {_norm(x) for x in re.split(r"[,;\n]| and ", answer) if _norm(x)} == {
                _norm(x) for x in re.split(r"[,;\n]", str(exp)) if _norm(x)}
        elif match == "regex":
            ok = re.search(str(exp), answer, re.I) is not None
        else:
            raise ValueError(f"unknown answer match {match!r}")
        if ok:
            return CheckResult(success=True, detail=f"answer {answer!r} matches {exp!r}")
    return CheckResult(success=False, detail=f"answer {answer!r} does not match ({match}) "
                                             f"{expected!r}")


def _check_sql_result(task: Task, env: Env, obs: Observation, p: dict[str, Any]
                      ) -> CheckResult:
    last = getattr(env, "last_result", None)
    if last is None:
        return CheckResult(success=False, detail="no query result to compare")
    if "rows" in p:
        want = _rows(p["rows"])
    else:
        want = _rows(_query(Path(env.pristine_db), p["query"]))  # type: ignore[attr-defined]
    got = _rows(last.rows)
    ordered = bool(p.get("ordered", False))
    if _same_rows(got, want, ordered):
        return CheckResult(success=True, detail=f"result matches ({len(want)} rows)")
    return CheckResult(success=False, detail=f"result differs: got {len(got)} rows "
                                             f"{got[:3]!r}…, expected {len(want)} {want[:3]!r}…")


def _check_db_query(task: Task, env: Env, obs: Observation, p: dict[str, Any]) -> CheckResult:
    db = getattr(env, "db_path", None)
    if db is None:
        return CheckResult(success=False, error="this environment has no database (db_path)")
    got = _rows(_query(Path(db), p["query"]))
    want = _rows(p["expected"])
    if _same_rows(got, want, bool(p.get("ordered", False))):
        return CheckResult(success=True, detail=f"database state matches ({len(want)} rows)")
    return CheckResult(success=False, detail=f"database state differs: {got[:5]!r} != "
                                             f"{want[:5]!r}")


def _check_page(task: Task, env: Env, obs: Observation, p: dict[str, Any]) -> CheckResult:
    page_text = getattr(env, "page_text", None)
    haystack = obs.text + "\n" + (page_text() if callable(page_text) else "")
    folded = haystack.casefold()
    texts = p.get("text", [])
    texts = [texts] if isinstance(texts, str) else list(texts)
    missing = [t for t in texts if t.casefold() not in folded]
    if p.get("regex") and not re.search(p["regex"], haystack, re.I):
        missing.append(f"/{p['regex']}/")
    absent = p.get("absent", [])
    present = [t for t in ([absent] if isinstance(absent, str) else absent)
               if t.casefold() in folded]
    if missing or present:
        return CheckResult(success=False, detail=f"missing {missing!r}; unexpected {present!r}")
    return CheckResult(success=True, detail="page content matches")


def _check_url(task: Task, env: Env, obs: Observation, p: dict[str, Any]) -> CheckResult:
    if not obs.url:
        return CheckResult(success=False, detail="no URL in the final observation")
    parts = urlsplit(obs.url)
    ok = True
    if "path" in p:
        ok = parts.path.rstrip("/") == str(p["path"]).rstrip("/")
    if ok and "regex" in p:
        ok = re.search(p["regex"], parts.path + ("?" + parts.query if parts.query else ""),
                       re.I) is not None
    if ok and "query" in p:
        have = dict(parse_qsl(parts.query))
        ok = all(have.get(k) == str(v) for k, v in p["query"].items())
    return CheckResult(success=ok, detail=f"final URL {parts.path}?{parts.query}")


def _check_file(task: Task, env: Env, obs: Observation, p: dict[str, Any]) -> CheckResult:
    workdir = getattr(env, "workdir", None)
    if workdir is None:
        return CheckResult(success=False, error="this environment has no sandbox directory")
    root = Path(workdir).resolve()
    path = (root / p["path"]).resolve()
    if not path.is_relative_to(root):
        return CheckResult(success=False, error=f"{p['path']!r} is outside the sandbox")
    if not p.get("exists", True):
        return CheckResult(success=not path.exists(), detail=f"{p['path']} exists: "
                                                             f"{path.exists()}")
    if not path.is_file():
        return CheckResult(success=False, detail=f"{p['path']} does not exist")
    content = path.read_text(errors="replace")
    if "equals" in p and content.strip() != str(p["equals"]).strip():
        return CheckResult(success=False, detail=f"{p['path']} content differs")
    if "contains" in p and str(p["contains"]) not in content:
        return CheckResult(success=False, detail=f"{p['path']} lacks {p['contains']!r}")
    if "regex" in p and not re.search(p["regex"], content, re.M):
        return CheckResult(success=False, detail=f"{p['path']} does not match /{p['regex']}/")
    return CheckResult(success=True, detail=f"{p['path']} matches")


def _combine(mode: str) -> CheckFn:
    def check(task: Task, env: Env, obs: Observation, p: dict[str, Any]) -> CheckResult:
        results = [_run_check(task, env, obs, CheckSpec.model_validate(c)) for c in p["checks"]]
        errors = [r.error for r in results if r.error]
        ok = all(r.success for r in results) if mode == "all" else any(
            r.success for r in results)
        detail = "; ".join(r.detail or (r.error or "") for r in results)
        return CheckResult(success=ok, detail=detail,
                           error="; ".join(errors) if errors and not ok else None)
    return check


for _kind, _fn in {"answer": _check_answer, "sql_result": _check_sql_result,
                   "db_query": _check_db_query, "page_contains": _check_page,
                   "url": _check_url, "file": _check_file, "all": _combine("all"),
                   "any": _combine("any")}.items():
    register_check(_kind, _fn)


# -- files ----------------------------------------------------------------------------------
def load_tasks(path: str | Path) -> list[Task]:
    """Tasks from a ``.jsonl``, ``.json`` or ``.toml`` file, or every such file in a
    directory (sorted). Ids must be unique."""
    path = Path(path)
    files = sorted(p for p in path.iterdir() if p.suffix in (".jsonl", ".json", ".toml")) \
        if path.is_dir() else [path]
    tasks: list[Task] = []
    for file in files:
        tasks += _load_file(file)
    seen: set[str] = set()
    for task in tasks:
        if task.id in seen:
            raise TaskFileError(f"duplicate task id {task.id!r} in {path}")
        seen.add(task.id)
    return tasks


def _load_file(file: Path) -> list[Task]:
    if not file.is_file():
        raise TaskFileError(f"{file}: no such file")
    text = file.read_text(encoding="utf-8", errors="replace")
    records: list[tuple[str, Any]] = []
    try:
        if file.suffix == ".jsonl":
            records = [(f"{file}:{i}", json.loads(line)) for i, line in
                       enumerate(text.splitlines(), 1) if line.strip() and
                       not line.lstrip().startswith("//")]
        elif file.suffix == ".json":
            data = json.loads(text)
            records = [(f"{file}[{i}]", r) for i, r in enumerate(
                data if isinstance(data, list) else data.get("tasks", []))]
        elif file.suffix == ".toml":
            records = [(f"{file} task {i}", r) for i, r in enumerate(
                tomllib.loads(text).get("task", []))]
        else:
            raise TaskFileError(f"{file}: unsupported task file type (jsonl, json, toml)")
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as err:
        raise TaskFileError(f"{file}: {err}") from err
    tasks = []
    for where, record in records:
        try:
            tasks.append(Task.model_validate(record))
        except ValidationError as err:
            raise TaskFileError(f"{where}: invalid task: {err}") from err
    return tasks


def save_tasks(tasks: list[Task], path: str | Path) -> None:
    """Write tasks as JSON Lines."""
    Path(path).write_text("".join(t.model_dump_json(exclude_defaults=True) + "\n"
                                  for t in tasks), encoding="utf-8")


def demo_tasks_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "data" / "demo" / "tasks"


def demo_tasks(env: str | None = None) -> list[Task]:
    """The bundled held-out tasks (optionally of one env: ``trac`` or ``sql``)."""
    tasks = load_tasks(demo_tasks_dir())
    return [t for t in tasks if env is None or t.env == env]


def run_reference(task: Task, env: Env) -> tuple[Observation, CheckResult]:
    """Reset ``env`` to the task, replay its reference solution, check it."""
    obs = env.reset(task)
    for action in task.reference:
        obs = env.step(action)
        if obs.last_action_error:
            return obs, CheckResult(success=False, detail=f"reference step {action!r} "
                                                           f"failed: {obs.last_action_error}")
        if obs.done:
            break
    return obs, check_task(task, env, obs)
