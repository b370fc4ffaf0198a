"""Build the judge benchmark's labelled set: (instruction, span) pairs from every held-out task with a reference
solution, replayed for real, each labelled by a task's own success check.

    .venv/bin/python bench/judge_set.py --env sql trac desktop repo     # writes data/judge_bench/<env>.jsonl

For each held-out task (SQL, Trac, desktop, the coding demo's bug fixes) the reference solution is replayed in
the real environment (`lbi.envs.replay`): every step keeps its observation, action, URL, error and effect. Pairs:

* ``positive``: the task's instruction and its reference span (its check passes; a reference that fails is
  reported and skipped);
* ``other_span``: another task's instruction on this span — the other task of the same environment that shares
  the most words with it — negative by that task's check on this span's end state (when that check passes too,
  the same answer by coincidence, the pair is reported and left out);
* ``prefix``: the longest prefix of the span whose check still fails (the span cut before its effect);
* ``other_step``: one step acting on another element or value (another cell, option, literal, answer, a changed
  line of the patch), replayed for real and labelled by the check; an answer after a changed query is read from
  what the changed query showed;
* ``other_instruction``: the instruction with one entity or number changed (`7` → `8`, `'frontend'` →
  `'backend'`); labelled by the task's check with the same change (a branch of an ``any`` check that the change
  does not touch cannot vouch for it and is dropped), or, when the check does not name the entity, negative by
  construction if the span acted on the old one (``label_source``: ``check`` or ``construction``).

A pair whose span cannot be replayed (the env's reset is not deterministic, a random seed, a reset that fails)
is reported and skipped, never counted. Observations are kept as the judges read them (the site's chrome
dropped, cut to `OBS_CHARS`, with the lines of the elements the step acted on); no screenshots.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, table, write_result  # noqa: E402

from lbi.envs import make_env  # noqa: E402
from lbi.envs.base import Env  # noqa: E402
from lbi.envs.replay import Probe, Replay, ReplayError, replay  # noqa: E402
from lbi.envs.tasks import CheckSpec, Task, check_task  # noqa: E402
from lbi.observations import BID_ACTION, chrome_lines  # noqa: E402

OUT = ROOT / "data" / "judge_bench"
ENVS = ("sql", "trac", "desktop", "repo")
OBS_CHARS = 1500
LINE_CHARS = 160
NEW_LINES = 25
TEST_PATHS = {"repo": ("tests",)}
"""Where each environment's tests are, run on every code change a replayed step makes (`Probe.tests`)."""
RESTART_FOR_OTHER = {"repo"}
"""Environments whose check judges the episode against its own start state (a bug-fix task's tests run on its
buggy tree plus the diff): another task's span is re-run from that task's start before its check reads it."""
KINDS = ("positive", "other_span", "prefix", "other_step", "other_instruction")


# -- environments and their tasks -------------------------------------------------------------------------------
@contextmanager
def open_env(name: str) -> Iterator[tuple[Env, list[Task]]]:
    """The env and its held-out tasks with reference solutions (the demos' own)."""
    from lbi import demos

    if name == "repo":
        from lbi.demos import coding
        from lbi.envs.repo.env import RepoEnv

        with make_env("repo", **coding.env_options()) as env:
            assert isinstance(env, RepoEnv)
            yield env, coding.demo_tasks(env)
        return
    tasks = [t for t in demos.demo_tasks(name) if t.reference]
    options: dict[str, Any] = demos.env_options(name) if name == "sql" else {}
    with make_env(name, **options) as env:
        yield env, tasks


# -- what a pair keeps ------------------------------------------------------------------------------------------
def trim(observation: str, chrome: frozenset[str], keep: set[str]) -> str:
    """The observation as judges read it: no chrome lines, lines cut to LINE_CHARS, at most OBS_CHARS characters;
    the lines of elements in `keep` (acted on) and spreadsheet cells are kept whatever the cut."""
    lines = [line.strip() for line in (observation or "").splitlines() if line.strip()]
    acted = {line for line in lines if any(line.startswith(f"[{b}]") for b in keep)}  # chrome or not
    lines = [line for line in lines if line not in chrome or line in acted] or lines
    must = [k for k, line in enumerate(lines) if line in acted or re.match(r"^\[[A-Z]{1,3}\d+\] cell ", line)]
    out, size = [], 0
    for k, line in enumerate(lines):
        line = line[:LINE_CHARS]
        if k in must or size + len(line) <= OBS_CHARS:
            out.append(line)
            size += len(line) + 1
    return "\n".join(out)


def _bids(action: str) -> set[str]:
    match = BID_ACTION.match(action or "")
    return {match.group(2)} if match else set()


def _page(value: Any, pages: dict[str, Any]) -> str:
    """The key of an observation or an effect in the env's page file (they repeat across pairs: stored once)."""
    key = hashlib.sha1(json.dumps(value, sort_keys=True).encode()).hexdigest()[:12]
    pages[key] = value
    return key


def pair_record(
    env_name: str,
    kind: str,
    task: Task,
    span_task: Task,
    instruction: str,
    rep: Replay,
    label: bool,
    detail: str,
    chrome: frozenset[str],
    pages: dict[str, Any],
    source: str = "check",
    start: int = 0,
    of: str = "",
) -> dict[str, Any]:
    steps = []
    for step in rep.steps[start:]:
        effect = step.effect.model_dump(exclude_defaults=True)
        if "new_lines" in effect:
            effect["new_lines"] = [line[:LINE_CHARS] for line in effect["new_lines"][:NEW_LINES]]
        steps.append(
            {
                "action": step.action,
                "page": _page(trim(step.observation, chrome, _bids(step.action)), pages),
                "url": step.url,
                "error": step.error,
                "effect": _page(effect, pages),
            }
        )
    of = of or (span_task.id if span_task.id != task.id else "")
    return {
        "id": f"{task.id}/{kind}" + (f"/{of}" if of else ""),
        "span_of": of or task.id,
        "env": env_name,
        "kind": kind,
        "task": task.id,
        "span_task": span_task.id,
        "instruction": instruction,
        "label": label,
        "label_source": source,
        "detail": detail[:300],
        "start": span_task.start,
        "actions": [s.action for s in rep.steps],
        "steps": steps,
        "after": {"page": _page(trim(rep.final, chrome, set()), pages), "url": rep.final_url, "answer": rep.answer},
    }


def write_set(path: Path, built: dict[str, Any]) -> Path:
    """Write the pairs `build_pairs` made to `path` (`<env>.jsonl`) and their pages beside it (`<env>.pages.json`),
    as `load_pairs` reads them."""
    path.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in built["pairs"]), encoding="utf-8")
    path.with_suffix(".pages.json").write_text(
        json.dumps(built["pages"], ensure_ascii=False, indent=0) + "\n", encoding="utf-8"
    )
    return path


def load_pairs(path: Path) -> list[dict[str, Any]]:
    """The pairs of a set file (`<env>.jsonl`), each step's and the end state's observation and each step's effect
    read from its page file (`<env>.pages.json`)."""
    pages = json.loads(path.with_suffix(".pages.json").read_text(encoding="utf-8"))
    pairs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for pair in pairs:
        for part in [*pair["steps"], pair["after"]]:
            part["observation"] = pages[part.pop("page")]
        for step in pair["steps"]:
            step["effect"] = pages[step["effect"]]
    return pairs


# -- mutations ---------------------------------------------------------------------------------------------------
def _bump(text: str) -> str | None:
    """`text` with its first number raised by one (`7` → `8`, `2.1` → `2.2`), or None."""
    match = re.search(r"(?<![\w.])(\d+)(?:\.(\d+))?(?![\w])", text)
    if not match:
        return None
    if match.group(2) is not None:
        new = f"{match.group(1)}.{int(match.group(2)) + 1}"
    else:
        new = str(int(match.group(1)) + 1)
    return text[: match.start()] + new + text[match.end() :]


def _quote_args(action: str) -> list[tuple[int, int, str]]:
    """(start, end, value) of each quoted argument of an action."""
    return [
        (
            m.start(1) if m.group(1) is not None else m.start(2),
            m.end(1) if m.group(1) is not None else m.end(2),
            m.group(1) if m.group(1) is not None else m.group(2),
        )
        for m in re.finditer(r"""'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)\"""", action)
    ]


def _replace_arg(action: str, index: int, value: str) -> str:
    start, end, _ = _quote_args(action)[index]
    return action[:start] + value + action[end:]


_SWAPS = [
    ("==", "!="),
    ("!=", "=="),
    ("<=", ">="),
    (">=", "<="),
    (" < ", " > "),
    (" > ", " < "),
    (" + 1", " + 2"),
    (" - 1", " + 1"),
    ("True", "False"),
    ("False", "True"),
    (" and ", " or "),
    (" or ", " and "),
    ("[0]", "[1]"),
    ("-1", "1"),
    ("'.'", "'-'"),
    ("'+'", "'-'"),
    ("'-'", "'+'"),
]


def _mutate_patch(command: str) -> str | None:
    """A fix patch (`git apply <<...`) with one added line changed so that it still applies."""
    lines = command.split("\\n")
    for k, line in enumerate(lines):
        if line.startswith("+") and not line.startswith("+++"):
            for old, new in _SWAPS:
                if old in line:
                    lines[k] = line.replace(old, new, 1)
                    return "\\n".join(lines)
            bumped = _bump(line)
            if bumped:
                lines[k] = bumped
                return "\\n".join(lines)
    for k, line in enumerate(lines):  # a fix that only removes: keep the removed line's neighbour twice instead
        if line.startswith("-") and not line.startswith("---"):
            lines[k] = " " + line[1:]
            return "\\n".join(lines)
    return None


def _neighbour_cell(cell: str) -> str:
    match = re.fullmatch(r"([A-Z]+)(\d+)", cell)
    assert match
    return f"{match.group(1)}{int(match.group(2)) + 1}"


def _other_value(value: str, pool: list[str]) -> str | None:
    bumped = _bump(value)
    if bumped is not None:
        return bumped
    for candidate in pool:
        if candidate != value and candidate.lower() not in value.lower() and value.lower() not in candidate.lower():
            return candidate
    return None


def _first_cell(table_text: str) -> str | None:
    """The first cell of the first row of a rendered SQL result table."""
    lines = [line for line in table_text.splitlines() if line.strip()]
    if (
        len(lines) >= 3
        and set(lines[1].replace("|", "").split()) == {"---"}
        and not re.fullmatch(r"\(\d+ rows?\)", lines[2].strip())
    ):
        return lines[2].split(" | ")[0].strip()
    return None


def _schema(observation: str) -> dict[str, list[str]]:
    """table → columns, from the SQL env's start observation (`ticket(id, type, ...)` lines)."""
    return {
        m.group(1): [c.strip() for c in m.group(2).split(",")]
        for m in re.finditer(r"^\s*(\w+)\(([^)]*)\)\s*$", observation, re.M)
    }


def _mutate_query(
    query: str, start_observation: str, column_values: Callable[[str], list[str]], key: str
) -> str | None:
    """The query acting on another element: a compared value changed to another value of its column, else a
    compared number raised by one, else the first selected column swapped for another column of its table (every
    place it is named), else its table swapped for another."""
    literal = re.search(r"(\w+)\s*(?:=|!=|<>|IN\s*\(|LIKE)\s*'([^'%]+)'", query)
    if literal:
        other = _other_value(literal.group(2), _rotate(column_values(literal.group(1)), key))
        if other:  # a value with a quote in it ("The Handmaid's Tale") is written as SQL writes it
            return query[: literal.start(2)] + other.replace("'", "''") + query[literal.end(2) :]
    number = re.search(r"(?:=|>|<|\bLIMIT)\s*(\d+)\b", query)
    if number:
        return query[: number.start(1)] + str(int(number.group(1)) + 1) + query[number.end(1) :]
    schema = _schema(start_observation)
    tables = [t for t in re.findall(r"\b(?:FROM|JOIN)\s+(\w+)", query, re.I) if t in schema]
    if not tables:
        return None
    selected = re.search(r"^\s*SELECT\s+(?:DISTINCT\s+)?(.*?)\s+FROM\b", query, re.I | re.S)
    names = re.findall(r"\b(?:\w+\.)?([a-z_]\w*)\b(?!\s*\()", selected.group(1) if selected else "")
    for column in names:
        table = next((t for t in tables if column in schema[t]), None)
        if table:
            others = _rotate([c for c in schema[table] if c != column], key + column)
            if others:
                return re.sub(rf"\b{column}\b", others[0], query)
    others = _rotate([t for t in schema if t != tables[0]], key)
    return re.sub(rf"\b{tables[0]}\b", others[0], query, count=1) if others else None


def sql_values(database: Path | None) -> Callable[[str], list[str]]:
    """column → the distinct text values it holds in any table of `database` (for changing a compared value)."""
    import sqlite3

    def values(column: str) -> list[str]:
        if database is None or not Path(database).is_file():
            return []
        conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            out: list[str] = []
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            for table in tables:
                columns = [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]
                if column in columns:
                    out += [
                        str(r[0])
                        for r in conn.execute(
                            f'SELECT DISTINCT "{column}" FROM "{table}" WHERE typeof("{column}") = \'text\' LIMIT 50'
                        )
                    ]
            return sorted({v for v in out if re.search(r"\w", v) and len(v) < 40})
        finally:
            conn.close()

    return values


def mutations(
    task: Task,
    rep: Replay,
    pools: dict[str, list[str]],
    rng_key: str,
    column_values: Callable[[str], list[str]] = lambda column: [],
) -> list[tuple[str, list[str]]]:
    """Candidate one-step changes of the reference: (what changed, the new actions); the first that replays and
    differs is used."""
    actions = list(task.reference)
    out: list[tuple[str, list[str]]] = []
    check_kinds = json.dumps(task.check.model_dump())
    answer_checked = '"kind": "answer"' in check_kinds and '"sql_result"' not in check_kinds
    order = list(range(len(actions) - 1, -1, -1))
    for k in order:
        action = actions[k]
        name = action.split("(", 1)[0].strip()
        args = _quote_args(action)
        if name in ("stop", "send_msg_to_user") and args and answer_checked:
            new = _other_value(args[0][2], pools["answers"])
            if new:
                out.append(
                    (
                        f"answer {args[0][2]!r} -> {new!r}",
                        actions[:k] + [_replace_arg(action, 0, new)] + actions[k + 1 :],
                    )
                )
        elif name == "execute_sql" and args:
            query = args[0][2]
            new_q = _mutate_query(query, rep.steps[0].observation, column_values, rng_key)
            if new_q:
                changed = actions[:k] + [_replace_arg(action, 0, new_q)]
                out.append((f"query {query!r} -> {new_q!r}", changed + ["<answer>"] * (len(actions) - k - 1)))
        elif name in ("fill", "select_option") and len(args) > 1:
            new = _other_value(args[1][2], pools["options"] if name == "select_option" else pools["typed"])
            if new:
                out.append(
                    (
                        f"{name} {args[1][2]!r} -> {new!r}",
                        actions[:k] + [_replace_arg(action, 1, new)] + actions[k + 1 :],
                    )
                )
        elif name == "type" and args:
            text = args[0][2]
            new = _bump(text)
            if new is None:
                word = re.search(r"[A-Za-z][A-Za-z]+", text)
                other = _other_value(word.group(0), pools["typed_words"]) if word else None
                new = text[: word.start()] + other + text[word.end() :] if word and other else None
            if new:
                out.append(
                    (f"type {text!r} -> {new!r}", actions[:k] + [_replace_arg(action, 0, new)] + actions[k + 1 :])
                )
        elif name == "goto" and args:
            new = _bump(args[0][2])
            if new:
                out.append(
                    (f"goto {args[0][2]!r} -> {new!r}", actions[:k] + [_replace_arg(action, 0, new)] + actions[k + 1 :])
                )
        elif name in ("click", "double_click", "drag") and args:
            bid = args[0][2]
            if re.fullmatch(r"[A-Z]+\d+", bid):
                new = _neighbour_cell(bid)
            else:
                others = [
                    b
                    for b in re.findall(
                        r"^\s*\[([^\]\s]+)\] (?:link|button|push button|page tab)", rep.steps[k].observation, re.M
                    )
                    if b != bid
                ]
                if not others:
                    continue
                new = others[int(hashlib.sha1(f"{rng_key}{k}".encode()).hexdigest(), 16) % len(others)]
            out.append((f"{name} {bid!r} -> {new!r}", actions[:k] + [_replace_arg(action, 0, new)] + actions[k + 1 :]))
        elif name == "bash" and args and "git apply" in args[0][2]:
            new = _mutate_patch(action)
            if new:
                out.append(("a changed line of the fix", actions[:k] + [new] + actions[k + 1 :]))
    return out


# -- the changed instruction -------------------------------------------------------------------------------------
def entities(
    instruction: str, pools: dict[str, list[str]], same_kind: Callable[[str], list[str]] = lambda v: []
) -> list[tuple[str, str]]:
    """(entity, replacement) candidates of an instruction: numbers, quoted strings, known values, capitalised
    names; `same_kind(value)` gives values of the same kind first (the other values of its database column)."""
    out: list[tuple[str, str]] = []
    for match in re.finditer(r"(?<![\w.])(\d+(?:\.\d+)?)(?![\w])", instruction):
        bumped = _bump(match.group(1))
        if bumped:
            out.append((match.group(1), bumped))
    for match in re.finditer(r"(?<![\w])'([^']+)'(?![\w])", instruction):
        other = _other_value(
            match.group(1),
            _rotate(same_kind(match.group(1)), instruction)
            + pools["typed"]
            + pools["options"]
            + _rotate(pools["sql_literals"], instruction),
        )
        if other:
            out.append((match.group(1), other))
    words = set(re.findall(r"[A-Za-z][\w.-]*", instruction))
    known = pools["options"] + pools["typed_words"] + pools["sql_literals"]
    for value in known:
        if value in words and value not in dict(out):
            other = _other_value(
                value,
                _rotate(same_kind(value), instruction)
                + _rotate([v for v in known if v[:1].isupper() == value[:1].isupper()], instruction),
            )
            if other:
                out.append((value, other))
    return out


def _substitute(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return re.sub(rf"(?<![\w.]){re.escape(old)}(?![\w]|\.\d)", new, value)
    if isinstance(value, list):
        return [_substitute(v, old, new) for v in value]
    if isinstance(value, dict):
        return {_substitute(k, old, new): _substitute(v, old, new) for k, v in value.items()}
    if isinstance(value, int | float) and not isinstance(value, bool) and str(value) == old:
        return type(value)(new) if re.fullmatch(r"\d+(?:\.\d+)?", new) else new
    return value


def changed_check(spec: CheckSpec, old: str, new: str) -> CheckSpec | None:
    """The check with `old` changed to `new`; branches of an ``any`` that the change leaves as they were are
    dropped (they cannot vouch for the new instruction). None when nothing in the check names `old`."""
    if spec.kind == "any":
        branches = [changed_check(CheckSpec.model_validate(c), old, new) for c in spec.params["checks"]]
        kept = [b.model_dump() for b in branches if b is not None]
        return CheckSpec(kind="any", params={**spec.params, "checks": kept}) if kept else None
    params = _substitute(spec.params, old, new)
    return None if params == spec.params else CheckSpec(kind=spec.kind, params=params)


# -- building one environment's pairs ----------------------------------------------------------------------------
def _pools(tasks: list[Task]) -> dict[str, list[str]]:
    answers, options, typed, typed_words, literals = [], [], [], [], []
    columns: dict[str, list[str]] = {}
    functions = [m.group(1) for t in tasks for m in _CODE_NAME.finditer(t.instruction) if t.env == "repo"]
    for task in tasks:
        for action in task.reference:
            name = action.split("(", 1)[0]
            args = [a for _, _, a in _quote_args(action)]
            if name in ("stop", "send_msg_to_user") and args and args[0] not in ("done", ""):
                answers.append(args[0])
            elif name == "select_option" and len(args) > 1:
                options.append(args[1])
            elif name == "fill" and len(args) > 1 and len(args[1]) < 60:
                typed.append(args[1])
            elif name == "type" and args:
                typed_words += re.findall(r"[A-Z][a-z]+", args[0])
            elif name == "execute_sql" and args:
                literals += re.findall(r"'([^'%]+)'", args[0])
                for column, value in re.findall(r"(\w+)\s*(?:=|!=|<>|IN\s*\(|LIKE)\s*'([^'%]+)'", args[0]):
                    columns.setdefault(f"sql:{column.lower()}", []).append(value)
    uniq = lambda xs: sorted(  # noqa: E731
        dict.fromkeys(x for x in xs if re.search(r"[A-Za-z0-9]", x)),
        key=lambda x: hashlib.sha1(x.encode()).hexdigest(),
    )
    return {
        "answers": uniq(answers),
        "options": uniq(options),
        "typed": uniq(typed),
        "typed_words": uniq(typed_words),
        "sql_literals": uniq(literals),
        "functions": uniq(functions),
        **{k: uniq(v) for k, v in columns.items()},
    }


def _rotate(values: list[str], key: str) -> list[str]:
    """`values` starting at a place `key` picks (so not every change draws the same replacement)."""
    if not values:
        return values
    k = int(hashlib.sha1(key.encode()).hexdigest(), 16) % len(values)
    return values[k:] + values[:k]


def _content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 2} - {
        "the",
        "and",
        "with",
        "save",
        "what",
        "which",
        "how",
        "many",
    }


def partner(task: Task, tasks: list[Task]) -> Task | None:
    """The other task whose instruction shares the most words with this one (same start state first)."""
    mine = _content_words(task.instruction)
    others = [t for t in tasks if t.id != task.id]
    if not others:
        return None
    return max(others, key=lambda t: (t.start == task.start, len(mine & _content_words(t.instruction)), t.id))


def _run(env: Env, task: Task, actions: list[str], probe: Probe) -> tuple[Replay, bool, str]:
    rep = replay(env, task, actions, probe=probe)
    assert rep.last is not None
    result = check_task(task, env, rep.last)
    return rep, result.success, result.detail or result.error or ""


def build_env(name: str, *, limit: int = 0, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Every pair of one of the demos' environments (see `build_pairs`)."""
    with open_env(name) as (env, tasks):
        return build_pairs(name, env, tasks[:limit] if limit else tasks, log=log)


@contextmanager
def open_project_env(directory: Path) -> Iterator[tuple[Env, list[Task]]]:
    """A project's configured env and its held-out tasks with reference solutions (`lbi tasks import`): a user's
    own data instead of the demos'."""
    from lbi.project import open_project

    project = open_project(directory)
    with project.make_env() as env:
        yield env, [t for t in project.tasks("heldout") if t.reference]


def build_project(directory: Path, *, limit: int = 0, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Every pair of a project's held-out tasks with reference solutions, in its configured environment."""
    with open_project_env(directory) as (env, tasks):
        return build_pairs(env.name, env, tasks[:limit] if limit else tasks, log=log)


def build_pairs(name: str, env: Env, tasks: list[Task], *, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Every pair of `tasks` in `env`; returns the pairs, their pages, the skipped ones with why, counts and
    seconds. A task whose reference cannot be replayed or fails its check is skipped and reported."""
    started = time.perf_counter()
    pairs: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    pools = _pools(tasks)
    probe = Probe(tests=TEST_PATHS.get(name, ()))
    positives: dict[str, Replay] = {}
    raw: list[tuple[Any, ...]] = []
    for n, task in enumerate(tasks, 1):
        try:
            rep, ok, detail = _run(env, task, list(task.reference), probe)
        except ReplayError as err:
            skipped.append({"task": task.id, "kind": "positive", "why": f"cannot replay: {err}"})
            log(f"  {name} {task.id}: cannot replay, skipped: {err}")
            continue
        if not ok or any(s.error for s in rep.steps):
            skipped.append({"task": task.id, "kind": "positive", "why": f"the reference fails: {detail}"})
            log(f"  {name} {task.id}: the reference fails its check, skipped: {detail[:120]}")
            continue
        positives[task.id] = rep
        raw.append(("positive", task, task, task.instruction, rep, True, detail, "check", 0))
        other = partner(task, tasks)
        if other is not None:  # another task's instruction on this span, judged by its check on this end state
            span_rep, start_task = rep, task
            if name in RESTART_FOR_OTHER:  # its check judges its own start state: the span is re-run from there
                span_rep, ok, _ = _run(env, other, list(task.reference), probe)
                start_task = other
            assert span_rep.last is not None
            result = check_task(other, env, span_rep.last)
            if result.success:  # the same answer or state by coincidence: which way a person would label it is moot
                skipped.append(
                    {
                        "task": other.id,
                        "kind": "other_span",
                        "why": f"its check also passes on {task.id}'s span: {result.detail[:80]}",
                    }
                )
            else:
                raw.append(
                    (
                        "other_span",
                        other,
                        start_task,
                        other.instruction,
                        span_rep,
                        False,
                        result.detail or result.error or "",
                        "check",
                        0,
                        task.id,
                    )
                )
        raw += _changed_instruction(env, task, rep, pools, skipped)
        raw += _prefix(env, task, probe, skipped)
        raw += _other_step(env, task, rep, pools, probe, skipped)
        log(f"  {name}: {n}/{len(tasks)} tasks, {len(raw)} pairs, {time.perf_counter() - started:.0f}s")
    chrome = chrome_lines([(s.url or "", s.observation) for rep in positives.values() for s in rep.steps])
    pages: dict[str, Any] = {"_chrome": sorted(chrome)}  # the replay judge trims what it replays the same way
    for kind, task, span_task, instruction, rep, label, detail, source, start, *of in raw:
        pairs.append(
            pair_record(
                name,
                kind,
                task,
                span_task,
                instruction,
                rep,
                label,
                detail,
                chrome,
                pages,
                source,
                start,
                of[0] if of else "",
            )
        )
    return {
        "pairs": pairs,
        "pages": pages,
        "skipped": skipped,
        "seconds": time.perf_counter() - started,
        "tasks": len(tasks),
    }


def _changed_instruction(
    env: Env, task: Task, rep: Replay, pools: dict[str, list[str]], skipped: list[dict[str, str]]
) -> list[tuple]:
    if env.name in RESTART_FOR_OTHER:
        return _changed_function(task, rep, pools, skipped)
    values = sql_values(env.evidence().pristine_database) if env.name == "sql" else (lambda column: [])
    columns = {v: c for a in task.reference for c, v in re.findall(r"(\w+)\s*(?:=|!=|<>|IN\s*\(|LIKE)\s*'([^'%]+)'", a)}
    for old, new in entities(task.instruction, pools, lambda v: values(columns[v]) if v in columns else []):
        pattern = rf"(?<![\w.]){re.escape(old)}(?![\w]|\.\d)"
        instruction = re.sub(pattern, new, task.instruction, count=1)
        spec = changed_check(task.check, old, new)
        if spec is not None:
            assert rep.last is not None
            result = check_task(task.model_copy(update={"check": spec, "instruction": instruction}), env, rep.last)
            if result.success:
                skipped.append(
                    {
                        "task": task.id,
                        "kind": "other_instruction",
                        "why": f"{old!r} -> {new!r}: the changed check also passes on this span",
                    }
                )
                continue
            return [
                (
                    "other_instruction",
                    task,
                    task,
                    instruction,
                    rep,
                    False,
                    f"{old!r} -> {new!r}: {result.detail or result.error}",
                    "check",
                    0,
                )
            ]
        acted = " ".join(rep.steps[k].action for k in range(len(rep.steps)))
        if re.search(pattern, acted):
            return [
                (
                    "other_instruction",
                    task,
                    task,
                    instruction,
                    rep,
                    False,
                    f"{old!r} -> {new!r}: the span acted on {old!r}",
                    "construction",
                    0,
                )
            ]
    skipped.append({"task": task.id, "kind": "other_instruction", "why": "no entity whose change can be labelled"})
    return []


_CODE_NAME = re.compile(r"\b([a-z_][a-z0-9]*_[a-z0-9_]+|[a-z_]\w*(?=\())")


def _changed_function(
    task: Task, rep: Replay, pools: dict[str, list[str]], skipped: list[dict[str, str]]
) -> list[tuple]:
    """A bug report naming another function than the one its fix changes (its tests cannot label a changed
    report: negative by construction, when the report named a function the fix changed)."""
    changed = {f.split(".")[-1].strip("_") for s in rep.steps for f in s.effect.functions}
    for match in _CODE_NAME.finditer(task.instruction):
        old = match.group(1)
        if old.strip("_") not in changed:
            continue
        new = next((n for n in _rotate(pools["functions"], task.id) if n != old), None)
        if new:
            instruction = task.instruction.replace(old, new)
            return [
                (
                    "other_instruction",
                    task,
                    task,
                    instruction,
                    rep,
                    False,
                    f"{old!r} -> {new!r}: the fix changes {old}",
                    "construction",
                    0,
                )
            ]
    skipped.append({"task": task.id, "kind": "other_instruction", "why": "it names no function its fix changes"})
    return []


def _prefix(env: Env, task: Task, probe: Probe, skipped: list[dict[str, str]]) -> list[tuple]:
    for n in range(len(task.reference) - 1, 0, -1):
        rep, ok, detail = _run(env, task, list(task.reference[:n]), probe)
        if not ok:
            return [("prefix", task, task, task.instruction, rep, False, f"first {n} steps: {detail}", "check", 0)]
    skipped.append({"task": task.id, "kind": "prefix", "why": "every non-empty prefix already passes the check"})
    return []


def _other_step(
    env: Env, task: Task, rep: Replay, pools: dict[str, list[str]], probe: Probe, skipped: list[dict[str, str]]
) -> list[tuple]:
    values = sql_values(env.evidence().pristine_database) if env.name == "sql" else (lambda column: [])
    for what, actions in mutations(task, rep, pools, task.id, values):
        if "<answer>" in actions:  # an answer after a changed query: read from what the changed query showed
            k = actions.index("<answer>")
            shown, _, _ = _run(env, task, actions[:k], probe)
            value = _first_cell(shown.final)
            tail = task.reference[k:]
            original = (
                _quote_args(tail[0])[0][2] if tail and tail[0].startswith("stop(") and _quote_args(tail[0]) else None
            )
            if original is not None and original.lower() in ("done", "ok", ""):
                actions = actions[:k] + [tail[0]]
            else:
                actions = actions[:k] + ([f"stop({value!r})"] if value is not None and original is not None else [])
        try:
            new, ok, detail = _run(env, task, actions, probe)
        except ReplayError as err:
            skipped.append({"task": task.id, "kind": "other_step", "why": str(err)})
            return []
        return [("other_step", task, task, task.instruction, new, ok, f"{what}: {detail}", "check", 0)]
    skipped.append({"task": task.id, "kind": "other_step", "why": "no step to change"})
    return []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", nargs="+", default=list(ENVS), choices=ENVS)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--limit", type=int, default=0, help="only the first N tasks of each env (a quick look)")
    parser.add_argument(
        "--project",
        type=Path,
        help="a project's own held-out tasks (`lbi tasks import`) in its environment instead of the demos'; "
        "writes <out>/<its env>.jsonl (give --out: never the shipped set)",
    )
    args = parser.parse_args()
    if args.project is not None and args.out.resolve() == OUT.resolve():
        parser.error("--project needs --out: a project's set never overwrites the shipped one")
    args.out.mkdir(parents=True, exist_ok=True)
    rows, report = [], {}
    for name in [None] if args.project is not None else args.env:
        if name is None:
            print(f"{args.project}: replaying the project's held-out references", flush=True)
            built = build_project(args.project, limit=args.limit)
            name = built["pairs"][0]["env"] if built["pairs"] else "project"
        else:
            print(f"{name}: replaying the held-out references", flush=True)
            built = build_env(name, limit=args.limit)
        path = write_set(args.out / f"{name}.jsonl", built)
        kinds = Counter((p["kind"], p["label"]) for p in built["pairs"])
        rows.append(
            {
                "env": name,
                "tasks": built["tasks"],
                "pairs": len(built["pairs"]),
                "positive": sum(p["label"] for p in built["pairs"]),
                "negative": sum(not p["label"] for p in built["pairs"]),
                **{k: sum(v for (kind, _), v in kinds.items() if kind == k) for k in KINDS[1:]},
                "skipped": len(built["skipped"]),
                "kB": round((path.stat().st_size + path.with_suffix(".pages.json").stat().st_size) / 1000),
                "s": built["seconds"],
            }
        )
        report[name] = {"skipped": built["skipped"], "kinds": {f"{k}/{lab}": v for (k, lab), v in kinds.items()}}
        for skip in built["skipped"]:
            print(f"  skipped {skip['task']} {skip['kind']}: {skip['why'][:140]}")
    print(table(rows, title="judge benchmark set"))
    print("result:", write_result("judge_set", {"envs": rows, "report": report}))


if __name__ == "__main__":
    main()
