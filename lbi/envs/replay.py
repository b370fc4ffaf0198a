"""Replay: run recorded actions again in a real environment, and read what each step did.

`replay(env, task, actions)` resets ``env`` to the task's start state and takes the actions one by one, keeping
for each step the observation it acted on, the action, the URL, the error and its **effect** (`StepEffect`):
the URL it reached, the answer it gave, the database rows it changed, the saved spreadsheet cells it changed,
the working tree's diff it made (with the functions around each hunk), and the lines it made appear. Effects
are read from the environment's `Evidence` (its database, working directory, diff), never from its internals, so
every environment that exposes evidence gets them.

`reproduces(recorded, replayed, start, end)` tells whether a recorded span comes out the same when replayed:
the same start state, the same errors step by step, the same end state (URL, answer, end observation up to
times and dates). The ``replay`` judge (`lbi.synth.judge`) uses it: a span that only worked by accident (a
state nobody can restore, a racing page) is not a lesson. An environment whose reset is not deterministic (a
BrowserGym task with a random seed, a live site) cannot be replayed: `cannot_replay` says why.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from lbi.envs.base import Env, EnvError, Observation
from lbi.envs.changes import (
    IGNORED_TABLES,
    Rows,
    cells_changed,
    database_rows,
    diff_functions,
    new_lines,
    rows_changed,
    sheet_cells,
)

if TYPE_CHECKING:
    from lbi.envs.tasks import Task

VIEWING_TABLES = {"trac": frozenset({"cache", "session", "session_attribute", "auth_cookie"})}
"""Per environment, the tables it writes by itself when a page is only viewed (Trac keeps an anonymous visitor's
last query in `session_attribute`): not effects of the step."""
CELL_SUFFIXES = (".xlsx", ".xlsm")
MAX_DIFF = 4000
SAME_LINES = 0.9
"""Share of (normalised) observation lines two end states must share to count as the same."""


class StepEffect(BaseModel):
    """What one step did, read from the environment's evidence before and after it."""

    url: str | None = Field(default=None, description="The URL the step reached, when it changed.")
    answer: str | None = Field(default=None, description="The answer the step gave (stop / send_msg_to_user).")
    rows: list[str] = Field(
        default_factory=list, description="Database rows changed: '+table(values)', '-table(values)'."
    )
    cells: list[str] = Field(
        default_factory=list, description="Saved spreadsheet cells changed: 'file Sheet!B8: old -> new'."
    )
    diff: str = Field(default="", description="The working tree's diff when the step changed it (repo).")
    functions: list[str] = Field(
        default_factory=list, description="The functions around the diff's hunks ('Version.bump_minor')."
    )
    new_lines: list[str] = Field(
        default_factory=list, description="Lines of the next observation that were not in this one."
    )
    fixed: list[str] | None = Field(
        default=None,
        description="Tests failing at the start state that pass on the diff after this step (None: not run).",
    )
    broken: list[str] | None = Field(
        default=None,
        description="Tests passing at the start state that fail on the diff after this step (None: not run).",
    )
    unfixed: list[str] | None = Field(
        default=None,
        description="Tests failing at the start state that still fail on the diff after this step (None: not run).",
    )

    @property
    def wrote(self) -> bool:
        """The step changed the environment's state (rows, saved cells, files)."""
        return bool(self.rows or self.cells or self.diff)


class ReplayStep(BaseModel):
    """One replayed step, as the store records a step, with its effect."""

    action: str
    observation: str = ""
    url: str | None = None
    error: str | None = None
    effect: StepEffect = Field(default_factory=StepEffect)


class Replay(BaseModel):
    """The steps replayed and the observation after the last one (`final`)."""

    steps: list[ReplayStep] = Field(default_factory=list)
    final: str = ""
    final_url: str | None = None
    answer: str | None = None
    done: bool = False
    last: Observation | None = Field(default=None, exclude=True, description="The last observation (for checks).")


class ReplayError(EnvError):
    """The actions cannot be replayed (the environment's reset is not deterministic, or it crashed)."""


# -- the state an effect is read from -------------------------------------------------------------------------
@dataclass
class _State:
    rows: Rows | None = None
    cells: dict[str, str] | None = None
    patch: str | None = None
    tree: Path | None = None


@dataclass
class Probe:
    """Reads the environment's evidence into a comparable state; caches spreadsheets by modification time."""

    ignored_tables: frozenset[str] = IGNORED_TABLES
    tests: Sequence[str] = ()
    """Test paths (`("tests",)`) to run on each diff a step changes, in environments that run tests (repo): which
    tests the change made pass or fail against the start state. Empty: not run (a suite takes seconds)."""
    _sheets: dict[Path, tuple[tuple[float, int], dict[str, str]]] = field(default_factory=dict)
    _base: dict[str, dict[str, str]] = field(default_factory=dict)

    def test_changes(self, env: Env, task_key: str, patch: str) -> tuple[list[str], list[str], list[str]] | None:
        """(fixed, broken, unfixed): the tests `patch` makes pass, makes fail, and leaves failing, against the start
        state; None when the environment runs no tests or the runs did not happen."""
        run = env.evidence().run_tests
        if not self.tests or run is None:
            return None
        if task_key not in self._base:
            base = run("", list(self.tests))
            self._base[task_key] = base.outcomes if base.applied and not base.timed_out else {}
        before = self._base[task_key]
        now = run(patch, list(self.tests))
        if not before or not now.applied or now.timed_out:
            return None
        ok = {"passed", "xfailed", "skipped"}
        fixed = sorted(t for t, o in now.outcomes.items() if o in ok and before.get(t, "missing") not in ok)
        broken = sorted(t for t, o in before.items() if o in ok and now.outcomes.get(t, "missing") not in ok)
        unfixed = sorted(t for t, o in before.items() if o not in ok and now.outcomes.get(t, "missing") not in ok)
        return fixed, broken, unfixed

    def state(self, env: Env) -> _State:
        ev = env.evidence()
        state = _State(patch=ev.patch, tree=ev.workdir)
        if ev.database is not None and Path(ev.database).is_file():
            ignored = self.ignored_tables | VIEWING_TABLES.get(getattr(env, "name", ""), frozenset())
            state.rows = database_rows(Path(ev.database), ignored)
        if ev.workdir is not None and ev.patch is None and Path(ev.workdir).is_dir():
            state.cells = {}
            for path in sorted(Path(ev.workdir).iterdir()):
                if path.suffix.lower() in CELL_SUFFIXES and path.is_file():
                    state.cells.update(self._cells(path))
        return state

    def _cells(self, path: Path) -> dict[str, str]:
        stat = path.stat()
        key = (stat.st_mtime, stat.st_size)
        cached = self._sheets.get(path)
        if cached and cached[0] == key:
            return cached[1]
        cells = sheet_cells(path)
        self._sheets[path] = (key, cells)
        return cells


def effect(before_obs: Observation, after_obs: Observation, before: _State, after: _State) -> StepEffect:
    patch = after.patch if after.patch is not None and after.patch != before.patch else ""
    return StepEffect(
        url=after_obs.url if after_obs.url and after_obs.url != before_obs.url else None,
        answer=after_obs.answer,
        rows=rows_changed(before.rows, after.rows),
        cells=cells_changed(before.cells, after.cells),
        diff=patch[:MAX_DIFF],
        functions=diff_functions(patch, after.tree) if patch else [],
        new_lines=new_lines(before_obs.text, after_obs.text),
    )


# -- replaying ------------------------------------------------------------------------------------------------
def cannot_replay(env: Env, task: Task | None) -> str | None:
    """Why actions in `env` on `task` cannot be replayed (None when they can)."""
    if not getattr(env, "deterministic_reset", False):
        return f"the {getattr(env, 'name', 'environment')} environment's reset is not deterministic"
    if task is not None and task.goal_at_reset:
        return f"task {task.id} draws its goal at reset (a random seed)"
    return None


def replay(
    env: Env, task: Task | None, actions: Sequence[str], *, effects_from: int = 0, probe: Probe | None = None
) -> Replay:
    """Reset `env` to `task` and take `actions`; steps from `effects_from` on get their effects read (the ones
    before are the prefix that restores a span's start state). Raises `ReplayError` when the env cannot be
    replayed or its reset fails."""
    why = cannot_replay(env, task)
    if why:
        raise ReplayError(why)
    probe = probe or Probe()
    try:
        obs = env.reset(task)
    except EnvError as err:
        raise ReplayError(f"reset failed: {err}") from err
    out = Replay()
    state = probe.state(env) if effects_from == 0 else None
    for k, action in enumerate(actions):
        if k == effects_from and state is None:
            state = probe.state(env)
        after = env.step(action)
        step = ReplayStep(action=action, observation=obs.text, url=obs.url, error=after.last_action_error)
        if k >= effects_from and state is not None:
            new_state = probe.state(env)
            step.effect = effect(obs, after, state, new_state)
            if step.effect.diff and new_state.patch is not None:
                changes = probe.test_changes(
                    env, json.dumps(task.start if task else {}, sort_keys=True), new_state.patch
                )
                if changes is not None:
                    step.effect.fixed, step.effect.broken, step.effect.unfixed = changes
            state = new_state
        out.steps.append(step)
        obs = after
        if after.done:
            break
    out.final, out.final_url, out.answer, out.done, out.last = obs.text, obs.url, obs.answer, obs.done, obs
    return out


# -- is a recorded span reproduced? ---------------------------------------------------------------------------
_TIMES = [
    (re.compile(r"\b\d+\s+(?:second|minute|hour|day|week|month|year)s?\s+ago\b", re.I), "<ago>"),
    (re.compile(r"\b\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)?)?\b"), "<date>"),
    (re.compile(r"\b\d{1,2}/\d{1,2}/\d{2,4}\b"), "<date>"),
    (re.compile(r"\b\d{1,2}:\d\d(?::\d\d)?(?:\s*[AP]M)?\b", re.I), "<time>"),
    (re.compile(r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.? \d{1,2},? \d{4}\b"), "<date>"),
    (re.compile(r"\b\d+(?:\.\d+)?\s*(?:ms|s)\b"), "<secs>"),
    (re.compile(r"/tmp/[\w./-]+"), "<tmp>"),
]


def normalised_lines(text: str) -> Counter[str]:
    """The observation's lines with times, dates, durations and temporary paths replaced by placeholders."""
    out: Counter[str] = Counter()
    for line in (text or "").splitlines():
        line = line.strip()
        if not line:
            continue
        for pattern, mark in _TIMES:
            line = pattern.sub(mark, line)
        out[line] += 1
    return out


def same_text(a: str, b: str, share: float = SAME_LINES) -> bool:
    """Two observations show the same state: they share at least `share` of their normalised lines."""
    left, right = normalised_lines(a), normalised_lines(b)
    size = max(sum(left.values()), sum(right.values()))
    return size == 0 or sum((left & right).values()) >= share * size


def _path(url: str | None) -> str:
    return re.sub(r"^[a-z]+://[^/]+", "", url or "")


@dataclass(frozen=True)
class Reproduction:
    same: bool
    reason: str


def reproduces(
    recorded: Sequence[dict[str, Any]], replayed: Replay, start: int, end: int, after: dict[str, Any] | None = None
) -> Reproduction:
    """Whether steps `start..end` of a recorded trajectory (`recorded`: dicts with observation, action, url,
    error; `after`: the observation, url and answer that followed step `end`) come out the same in `replayed`,
    a replay of the trajectory's actions from its task's reset."""
    if len(replayed.steps) <= end:
        return Reproduction(False, f"the replay ended after {len(replayed.steps)} steps, before step {end}")
    first, mine = recorded[start], replayed.steps[start]
    if not same_text(first.get("observation") or "", mine.observation) or _path(first.get("url")) != _path(mine.url):
        return Reproduction(False, f"the start state of step {start} could not be restored")
    for k in range(start, end + 1):
        rec, rep = recorded[k], replayed.steps[k]
        if bool(rec.get("error")) != bool(rep.error):
            said = rep.error or "no error"
            return Reproduction(
                False,
                f"step {k} ({rec.get('action')}) gave {said[:80]} on replay, "
                f"{(rec.get('error') or 'no error')[:80]} when recorded",
            )
    if end + 1 < len(replayed.steps):
        obs, url, answer = replayed.steps[end + 1].observation, replayed.steps[end + 1].url, None
    else:
        obs, url, answer = replayed.final, replayed.final_url, replayed.answer
    if after is not None:
        if _path(after.get("url")) != _path(url):
            return Reproduction(
                False,
                f"the span ended at {_path(url) or 'no URL'} on replay, "
                f"{_path(after.get('url')) or 'no URL'} when recorded",
            )
        if after.get("answer") is not None and answer is not None and after["answer"] != answer:
            return Reproduction(False, "the span's answer differs on replay")
        if not same_text(after.get("observation") or "", obs):
            return Reproduction(False, f"the end state after step {end} differs on replay")
    return Reproduction(True, f"steps {start}-{end} replayed from the start state with the same errors and end state")


__all__ = [
    "Probe",
    "Replay",
    "ReplayError",
    "ReplayStep",
    "Reproduction",
    "StepEffect",
    "cannot_replay",
    "effect",
    "normalised_lines",
    "replay",
    "reproduces",
    "same_text",
]
