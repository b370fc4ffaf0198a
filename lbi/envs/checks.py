"""Success checks: what a task's ``check = {"kind": ..., "params": {...}}`` means.

A check reads the final observation and the env's :class:`~lbi.envs.base.Evidence` (``env.evidence()``:
its database, the pristine database, the last query's rows, the sandbox directory, the page text), never
the env's internals. Kinds:

=================  ==========================================================================
``answer``         the agent's final answer; ``expected`` (str or list of acceptable ones),
                   ``match``: ``exact`` | ``contains`` | ``number`` | ``set`` | ``regex``
``sql_result``     the env's last result set equals that of ``query`` on the pristine database
                   (or literal ``rows``); ``ordered`` (default false)
``db_query``       ``query`` run on the env's current database returns ``expected`` rows
                   (``ordered`` default false)
``page_contains``  the final page (observation text or full page text) contains ``text``
                   (str or list; ``regex`` alternatively); ``absent``: must not contain
``url``            final URL path equals ``path`` or matches ``regex``; ``query``: subset
``file``           sandbox file ``path`` ``exists`` (default true) / ``contains`` / ``equals``
                   / ``regex``
``tests``          SWE-bench's judgement (repo): the episode's diff applied to a fresh copy of the task's
                   base tree, then ``fail_to_pass`` and ``pass_to_pass`` (pytest node ids) must all
                   pass; ``test_patch`` (a diff applied after it), ``timeout_s`` of the test run
``env_reward``     the environment's own judge (browsergym: the task's ``validate``): the episode's reward
                   is at least ``min`` (default 1)
``sheet``          a spreadsheet the episode saved (desktop): sheet names, cell values, formulas, bold,
                   ranges (:mod:`lbi.envs.desktop.checks`)
``all`` / ``any``  ``checks``: list of nested checks
=================  ==========================================================================

Add your own kind with :func:`register_check`. :func:`check_problems` tells a task file's reader what is
wrong with a check before anything runs (unknown kind, missing parameter, nested ones too).
"""

from __future__ import annotations

import importlib
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel

from lbi.envs.base import CheckSpec, Env, Evidence, Observation, Task


class CheckResult(BaseModel):
    success: bool
    detail: str = ""
    error: str | None = None


CheckFn = Callable[["Task", Evidence, Observation, dict[str, Any]], CheckResult]


@dataclass(frozen=True)
class _Kind:
    fn: CheckFn
    required: tuple[str, ...]
    one_of: tuple[str, ...]


_CHECKS: dict[str, _Kind] = {}


def register_check(kind: str, fn: CheckFn, *, required: tuple[str, ...] = (), one_of: tuple[str, ...] = ()) -> None:
    """Add a check kind: ``fn(task, evidence, final_obs, params) -> CheckResult``. ``required`` params
    must all be given, and at least one of ``one_of`` when it is not empty (checked when a file loads)."""
    _CHECKS[kind] = _Kind(fn, required, one_of)


def by_name(where: str) -> CheckFn:
    """The check function ``module:function``, imported when a check of its kind first runs: a family's own
    check lives in its package (which imports this module), and task files name it before the family loads."""

    def check(task: Task, ev: Evidence, obs: Observation, p: dict[str, Any]) -> CheckResult:
        module, _, name = where.partition(":")
        fn: CheckFn = getattr(importlib.import_module(module), name)
        return fn(task, ev, obs, p)

    return check


def check_kinds() -> list[str]:
    return sorted(_CHECKS)


def check_problems(spec: CheckSpec, where: str = "check") -> list[str]:
    """What keeps ``spec`` from running (unknown kinds, missing params), nested checks included."""
    kind = _CHECKS.get(spec.kind)
    if kind is None:
        return [f"{where}: unknown check kind {spec.kind!r}; known: {', '.join(check_kinds())}"]
    problems = [f"{where}: the {spec.kind} check needs {name!r}" for name in kind.required if name not in spec.params]
    if kind.one_of and not any(name in spec.params for name in kind.one_of):
        problems.append(f"{where}: the {spec.kind} check needs one of {', '.join(map(repr, kind.one_of))}")
    if spec.kind in ("all", "any") and "checks" in spec.params:
        nested = spec.params["checks"]
        if not isinstance(nested, list) or not nested:
            return [*problems, f"{where}: {spec.kind}.checks must be a non-empty list of checks"]
        for i, sub in enumerate(nested):
            inner = f"{where}.checks[{i}]"
            if not isinstance(sub, dict) or "kind" not in sub:
                problems.append(f"{inner}: not a check (a table with a kind)")
                continue
            problems += check_problems(CheckSpec.model_validate(sub), inner)
    return problems


def check_task(task: Task, env: Env | None, final_obs: Observation) -> CheckResult:
    """Evaluate the task's check on what ``env`` shows (``env.evidence()``) and the final observation;
    a check that cannot run returns ``error``, never raises."""
    return evidence_check(task, env.evidence() if env is not None else Evidence(), final_obs)


def evidence_check(task: Task, evidence: Evidence, final_obs: Observation) -> CheckResult:
    """The task's check on evidence gathered elsewhere (a BrowserGym task's ``validate``: the page, the
    database, the chat's answer); never raises."""
    return _run_check(task, evidence, final_obs, task.check)


def _run_check(task: Task, evidence: Evidence, obs: Observation, spec: CheckSpec) -> CheckResult:
    kind = _CHECKS.get(spec.kind)
    if kind is None:
        return CheckResult(success=False, error=f"unknown check kind {spec.kind!r}; known: {', '.join(check_kinds())}")
    try:
        return kind.fn(task, evidence, obs, spec.params)
    except (KeyError, TypeError, ValueError, OSError, sqlite3.Error, re.error) as err:
        return CheckResult(success=False, error=f"{spec.kind} check failed to run: {type(err).__name__}: {err}")


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
    return [tuple(_norm_value(v) for v in (r if isinstance(r, list | tuple) else [r])) for r in rows]


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
def _check_answer(task: Task, ev: Evidence, obs: Observation, p: dict[str, Any]) -> CheckResult:
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
                _norm(x) for x in re.split(r"[,;\n]", str(exp)) if _norm(x)
            }
        elif match == "regex":
            ok = re.search(str(exp), answer, re.I) is not None
        else:
            raise ValueError(f"unknown answer match {match!r}")
        if ok:
            return CheckResult(success=True, detail=f"answer {answer!r} matches {exp!r}")
    return CheckResult(success=False, detail=f"answer {answer!r} does not match ({match}) {expected!r}")


def _check_sql_result(task: Task, ev: Evidence, obs: Observation, p: dict[str, Any]) -> CheckResult:
    if ev.last_rows is None:
        return CheckResult(success=False, detail="no query result to compare")
    if "rows" in p:
        want = _rows(p["rows"])
    elif ev.pristine_database is None:
        return CheckResult(
            success=False, error="this environment has no pristine database to run the expected query on"
        )
    else:
        want = _rows(_query(ev.pristine_database, p["query"]))
    got = _rows(ev.last_rows)
    ordered = bool(p.get("ordered", False))
    if _same_rows(got, want, ordered):
        return CheckResult(success=True, detail=f"result matches ({len(want)} rows)")
    return CheckResult(
        success=False, detail=f"result differs: got {len(got)} rows {got[:3]!r}…, expected {len(want)} {want[:3]!r}…"
    )


def _check_db_query(task: Task, ev: Evidence, obs: Observation, p: dict[str, Any]) -> CheckResult:
    if ev.database is None:
        return CheckResult(success=False, error="this environment has no database to query")
    got = _rows(_query(ev.database, p["query"]))
    want = _rows(p["expected"])
    if _same_rows(got, want, bool(p.get("ordered", False))):
        return CheckResult(success=True, detail=f"database state matches ({len(want)} rows)")
    return CheckResult(success=False, detail=f"database state differs: {got[:5]!r} != {want[:5]!r}")


def _check_page(task: Task, ev: Evidence, obs: Observation, p: dict[str, Any]) -> CheckResult:
    haystack = obs.text + "\n" + (ev.page_text or "")
    folded = haystack.casefold()
    texts = p.get("text", [])
    texts = [texts] if isinstance(texts, str) else list(texts)
    missing = [t for t in texts if t.casefold() not in folded]
    if p.get("regex") and not re.search(p["regex"], haystack, re.I):
        missing.append(f"/{p['regex']}/")
    absent = p.get("absent", [])
    present = [t for t in ([absent] if isinstance(absent, str) else absent) if t.casefold() in folded]
    if missing or present:
        return CheckResult(success=False, detail=f"missing {missing!r}; unexpected {present!r}")
    return CheckResult(success=True, detail="page content matches")


def _check_url(task: Task, ev: Evidence, obs: Observation, p: dict[str, Any]) -> CheckResult:
    if not obs.url:
        return CheckResult(success=False, detail="no URL in the final observation")
    parts = urlsplit(obs.url)
    ok = True
    if "path" in p:
        ok = parts.path.rstrip("/") == str(p["path"]).rstrip("/")
    if ok and "regex" in p:
        ok = re.search(p["regex"], parts.path + ("?" + parts.query if parts.query else ""), re.I) is not None
    if ok and "query" in p:
        have = dict(parse_qsl(parts.query))
        ok = all(have.get(k) == str(v) for k, v in p["query"].items())
    return CheckResult(success=ok, detail=f"final URL {parts.path}?{parts.query}")


def _check_file(task: Task, ev: Evidence, obs: Observation, p: dict[str, Any]) -> CheckResult:
    if ev.workdir is None:
        return CheckResult(success=False, error="this environment has no sandbox directory")
    root = ev.workdir.resolve()
    path = (root / p["path"]).resolve()
    if not path.is_relative_to(root):
        return CheckResult(success=False, error=f"{p['path']!r} is outside the sandbox")
    if not p.get("exists", True):
        return CheckResult(success=not path.exists(), detail=f"{p['path']} exists: {path.exists()}")
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


def _check_tests(task: Task, ev: Evidence, obs: Observation, p: dict[str, Any]) -> CheckResult:
    if ev.run_tests is None:
        return CheckResult(success=False, error="this environment cannot run a repository's tests (repo can)")
    if ev.patch is None:
        return CheckResult(success=False, detail="the episode left no working tree to diff")
    fail, keep = list(p["fail_to_pass"]), list(p.get("pass_to_pass", []))
    run = ev.run_tests(ev.patch, fail + keep, p.get("test_patch"), p.get("timeout_s"))
    if not run.applied:
        return CheckResult(success=False, detail=run.error or "the patch does not apply")
    detail = f"fail_to_pass {run.summary(fail)}; pass_to_pass {run.summary(keep)} ({run.duration_s:g}s)"
    if run.error:  # killed at its time limit or for the space it took: recorded with what it had done
        return CheckResult(success=False, detail=f"{run.error}; {detail}")
    return CheckResult(success=all(run.passed(t) for t in fail + keep), detail=detail)


def _check_env_reward(task: Task, ev: Evidence, obs: Observation, p: dict[str, Any]) -> CheckResult:
    if ev.reward is None:
        return CheckResult(success=False, error="this environment gives no reward of its own (browsergym does)")
    least = float(p.get("min", 1.0))
    why = f" ({ev.env_info})" if ev.env_info else ""
    return CheckResult(success=ev.reward >= least, detail=f"reward {ev.reward:g} (success at >= {least:g}){why}"[:500])


def _combine(mode: str) -> CheckFn:
    def check(task: Task, ev: Evidence, obs: Observation, p: dict[str, Any]) -> CheckResult:
        results = [_run_check(task, ev, obs, CheckSpec.model_validate(c)) for c in p["checks"]]
        errors = [r.error for r in results if r.error]
        ok = all(r.success for r in results) if mode == "all" else any(r.success for r in results)
        detail = "; ".join(r.detail or (r.error or "") for r in results)
        return CheckResult(success=ok, detail=detail, error="; ".join(errors) if errors and not ok else None)

    return check


register_check("answer", _check_answer, required=("expected",))
register_check("sql_result", _check_sql_result, one_of=("query", "rows"))
register_check("db_query", _check_db_query, required=("query", "expected"))
register_check("page_contains", _check_page, one_of=("text", "regex", "absent"))
register_check("url", _check_url, one_of=("path", "regex", "query"))
register_check("file", _check_file, required=("path",))
register_check("tests", _check_tests, required=("fail_to_pass",))
register_check("env_reward", _check_env_reward)
register_check("all", _combine("all"), required=("checks",))
register_check("any", _combine("any"), required=("checks",))
register_check("sheet", by_name("lbi.envs.desktop.checks:check_sheet"), required=("file",))
