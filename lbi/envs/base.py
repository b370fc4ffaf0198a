"""The environment protocol shared by every lbi environment.

Gymnasium's shape, BrowserGym's habits:

* ``reset(task) -> Observation`` starts an episode (from the task's start state);
* ``step(action) -> Observation`` takes a typed :class:`~lbi.envs.actions.Action` or the
  model's raw text; anything that goes wrong with the action (parse error, unknown element,
  forbidden origin, SQL error, time limit) comes back as ``Observation.last_action_error``
  and the episode goes on;
* a crashed browser/server ends the episode: ``done=True`` and ``info["crashed"]`` set;
  :class:`EnvCrashed` is raised only by ``reset`` when the environment cannot start at all;
* ``close()`` is idempotent; every env is a context manager.

Checks read the end of an episode through ``evidence()`` (:class:`Evidence`), never the env's
internals. A :class:`Task` (instruction, start state, :class:`CheckSpec`) is defined here beside the protocol
it is played in; task files are read by :mod:`lbi.envs.tasks`, checks run by :mod:`lbi.envs.checks`.
Environments are chosen by name (``lbi.toml``) through :mod:`lbi.envs.registry`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, Self, runtime_checkable

from pydantic import BaseModel, Field

from lbi.envs.actions import Action, ActionParseError, ActionSpec, action_pattern, describe_actions, parse_action
from lbi.errors import UserError


class EnvError(UserError):
    """Base class of the environment errors."""


class EnvCrashed(EnvError):
    """The environment cannot start (raised from ``reset``) or died for good. An env's ``step`` reports a crash in
    its observation instead (``done``, ``info["crashed"]``); the agent loop then raises this with that last
    observation as ``obs`` to end the episode."""

    def __init__(self, message: str = "", obs: Observation | None = None) -> None:
        super().__init__(message)
        self.obs = obs


class EnvClosed(EnvError):
    """``reset``/``step`` was called after ``close()``."""


class UnknownEnv(EnvError, KeyError):
    """No environment is registered under that name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class Observation(BaseModel):
    """What the agent sees after ``reset`` or ``step``."""

    text: str = Field(description="Observation text shown to the agent (AX tree, table, stdout).")
    url: str | None = Field(default=None, description="Current URL (web only).")
    title: str | None = Field(default=None, description="Page title (web only).")
    focused: str | None = Field(default=None, description="bid of the focused element (web).")
    screenshot: str | None = Field(default=None, description="Path of a PNG screenshot.")
    last_action_error: str | None = Field(default=None, description="Why the last action failed; None if it succeeded.")
    state_signature: str = Field(default="", description="Stable key of the state, for observation-based retrieval.")
    done: bool = Field(default=False, description="The episode is over (stop/crash).")
    answer: str | None = Field(default=None, description="The agent's answer (stop / send_msg_to_user).")
    step: int = Field(default=0, description="Step index: 0 after reset.")
    info: dict[str, Any] = Field(default_factory=dict, description="Extra, env-specific data.")


@dataclass(frozen=True)
class Candidate:
    """Something an exploration policy may do next.

    ``kind`` is ``click``, ``fill`` or ``select`` (web elements, which then have a ``bid``)
    or ``action`` (a complete action string in ``action``, for sql/shell).
    """

    kind: str
    bid: str = ""
    role: str = ""
    name: str = ""
    options: tuple[str, ...] = ()
    action: str | None = None


class Evidence(BaseModel):
    """What success checks may read at the end of an episode (``env.evidence()``); None = not available."""

    database: Path | None = Field(
        default=None,
        description="The database as the episode left it (sql: the episode's copy; trac: Trac's live database).",
    )
    pristine_database: Path | None = Field(
        default=None, description="The database as every episode starts (sql_result checks run their query here)."
    )
    last_rows: list[tuple[Any, ...]] | None = Field(
        default=None, description="Rows of the last successful query (sql)."
    )
    workdir: Path | None = Field(default=None, description="The sandbox working directory (shell, repo).")
    page_text: str | None = Field(default=None, description="The final page's full visible text (web).")
    patch: str | None = Field(
        default=None, description="The working tree's changes against the task's base commit, as a git diff (repo)."
    )
    run_tests: Callable[..., Any] | None = Field(
        default=None,
        description="repo: ``run_tests(patch, test_ids, test_patch=None, timeout_s=None)`` applies "
        "a patch to a fresh copy of the task's base tree and runs the tests there "
        "(`lbi.envs.repo.harness.TestRun`).",
    )
    reward: float | None = Field(
        default=None,
        description="The environment's own reward for the episode so far (browsergym: the total of "
        "what the task's validate returned).",
    )
    env_info: dict[str, Any] | None = Field(
        default=None, description="What the environment's own judge last said (browsergym: validate's info)."
    )


class CheckSpec(BaseModel):
    """What success means: a check kind and its parameters."""

    kind: str
    params: dict[str, Any] = Field(default_factory=dict)


class Task(BaseModel):
    """One task for an environment."""

    id: str = Field(description="Unique id, e.g. 'trac-web-007'.")
    env: str = Field(description="Registered environment name: web, trac, sql, shell, repo, browsergym, desktop.")
    instruction: str = Field(description="What the user asks the agent to do.")
    start: dict[str, Any] = Field(
        default_factory=dict,
        description="Start state: web, trac {'url': '/path'}; sql {'writable': bool}; "
        "shell {'files': {path: content}}; repo {'patch': diff}; browsergym {'task': id, 'seed': n}; "
        "desktop {'document': 'name.xlsx'}.",
    )
    check: CheckSpec = Field(description="Programmatic success check.")
    split: Literal["heldout", "synthetic"] = "heldout"
    difficulty: Literal["easy", "medium", "hard"] = "easy"
    reference: list[str] = Field(default_factory=list, description="Scripted reference solution (action strings).")
    tags: list[str] = Field(default_factory=list)
    source: str | None = Field(default=None, description="Doc chunk id it came from, if any.")
    goal_at_reset: bool = Field(
        default=False,
        description="The environment states the goal when it resets (a BrowserGym task): the agent "
        "is given that goal (obs.info['goal']) as the instruction, and the trajectory "
        "records it; `instruction` is then only a label.",
    )


@runtime_checkable
class Env(Protocol):
    """The contract every environment honours (checked by :mod:`lbi.envs.conformance`)."""

    # Read-only members, so that a class constant (BaseEnv's ClassVars) honours them too.
    @property
    def name(self) -> str: ...

    @property
    def deterministic_reset(self) -> bool: ...

    def reset(self, task: Task | None = None, *, episode_id: str | None = None) -> Observation: ...

    def step(self, action: str | Action) -> Observation: ...

    def close(self) -> None: ...

    def action_space_doc(self) -> str: ...

    def action_pattern(self) -> str: ...

    def interactive_elements(self, obs: Observation | None = None) -> list[Candidate]: ...

    def evidence(self) -> Evidence: ...

    def __enter__(self) -> Env: ...

    def __exit__(self, *exc: object) -> None: ...


COMMON_ACTIONS: dict[str, ActionSpec] = {
    spec.name: spec
    for spec in (
        ActionSpec(
            "send_msg_to_user",
            (("text", str),),
            "Send a message (your answer) to the user; this ends the episode.",
            'send_msg_to_user("The ticket was created as #21.")',
        ),
        ActionSpec(
            "stop",
            (("answer", str, ""),),
            "Stop: the task is done (or impossible); give the answer if one is asked.",
            'stop("42")',
        ),
        ActionSpec("noop", (("wait_ms", float, 0.0),), "Do nothing (optionally wait wait_ms milliseconds).", "noop()"),
    )
}


class BaseEnv:
    """Shared machinery: parsing, step counting, timing, close/context-manager contract.

    Subclasses set ``name``, ``actions`` and implement ``_reset`` and ``_execute``.
    """

    name: ClassVar[str] = "base"
    deterministic_reset: ClassVar[bool] = True
    actions: dict[str, ActionSpec] = COMMON_ACTIONS  # per class; browsergym's depend on its options (per env)
    bare_action: ClassVar[tuple[str, tuple[str, ...]] | None] = None  # (action, fence langs)
    intro: ClassVar[str] = ""

    def __init__(self) -> None:
        self._closed = False
        self._steps = 0
        self._done = False
        self.task: Task | None = None
        self.episode_id: str = ""
        self.last_obs: Observation | None = None

    # -- contract -------------------------------------------------------------------
    def reset(self, task: Task | None = None, *, episode_id: str | None = None) -> Observation:
        if self._closed:
            raise EnvClosed(f"{self.name} env is closed")
        self.task = task
        self.episode_id = episode_id or (
            f"{task.id}-{int(time.time() * 1000)}" if task else f"ep-{int(time.time() * 1000)}"
        )
        self._steps = 0
        self._done = False
        start = time.perf_counter()
        obs = self._reset(task)
        obs.step = 0
        obs.info.setdefault("latency_s", round(time.perf_counter() - start, 4))
        self.last_obs = obs
        return obs

    def step(self, action: str | Action) -> Observation:
        if self._closed:
            raise EnvClosed(f"{self.name} env is closed")
        start = time.perf_counter()
        self._steps += 1  # index of the observation being produced
        if self._done:
            obs = self._finished_obs("the episode is over; call reset() first")
        else:
            try:
                parsed = action if isinstance(action, Action) else self.parse(action)
            except ActionParseError as err:
                obs = self._error_obs(str(err))
            else:
                obs = self._dispatch(parsed)
                obs.info.setdefault("action", parsed.to_text())
        obs.step = self._steps
        obs.info["latency_s"] = round(time.perf_counter() - start, 4)
        self._done = self._done or obs.done
        self.last_obs = obs
        return obs

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._closed

    # -- helpers ----------------------------------------------------------------------
    def parse(self, text: str) -> Action:
        return parse_action(text, self.actions, bare=self.bare_action)

    def action_space_doc(self) -> str:
        head = self.intro.strip() + "\n\n" if self.intro else ""
        return head + describe_actions(self.actions)

    def action_pattern(self) -> str:
        """The regular expression of one well-formed action (see `lbi.envs.actions.action_pattern`)."""
        return action_pattern(self.actions)

    def interactive_elements(self, obs: Observation | None = None) -> list[Candidate]:
        return []

    def evidence(self) -> Evidence:
        """What checks may read now (override to expose a database, a directory, the page text)."""
        return Evidence()

    def _dispatch(self, action: Action) -> Observation:
        if action.name not in self.actions:
            return self._error_obs(f"action {action.name}() is not available in the {self.name} environment")
        if action.name in ("stop", "send_msg_to_user"):
            obs = self._observe()
            obs.done, obs.answer = True, str(action.args[0])
            return obs
        if action.name == "noop":
            time.sleep(max(0.0, min(float(action.args[0]), 10_000)) / 1000)  # a model may write noop(-1e53)
            return self._observe()
        return self._execute(action)

    def _error_obs(self, error: str) -> Observation:
        obs = self._observe()
        obs.last_action_error = error
        return obs

    def _finished_obs(self, error: str) -> Observation:
        base = self.last_obs or Observation(text="")
        return base.model_copy(update={"last_action_error": error, "done": True, "info": dict(base.info)})

    # -- to implement -----------------------------------------------------------------
    def _reset(self, task: Task | None) -> Observation:
        raise NotImplementedError

    def _execute(self, action: Action) -> Observation:
        raise NotImplementedError

    def _observe(self) -> Observation:
        """Observation of the current state without acting."""
        raise NotImplementedError

    def _close(self) -> None:
        """Release resources (called once)."""
