"""Environments behind one protocol: ``web`` (Playwright + Chromium), ``trac`` (the web env on the bundled Trac
demo), ``sql`` (SQLite), ``shell`` (bubblewrap sandbox), ``repo`` (a git repository in that sandbox, SWE-bench
style), ``browsergym`` (BrowserGym's tasks) and ``desktop`` (LibreOffice Calc through its accessibility tree).

>>> from lbi.envs import make_env
>>> with make_env("sql", db="my.db") as env:
...     obs = env.reset()
...     obs = env.step('execute_sql("SELECT 1")')

Shared by every environment: `base` (the Env protocol, observations, evidence, `Task` and its `CheckSpec`),
`actions` (the action grammar), `tasks` (task files), `checks` (success checks), `registry` (envs by name),
`conformance` (the contract's checker), `sandbox` (the bubblewrap runner of ``shell`` and ``repo``),
`screenshots` (drawing on screenshots, no browser needed), `replay` (recorded actions run again, with what
each step changed) and `changes` (what changed between two readings of an environment's evidence).

A small environment is one module (`sql`, `shell`); a family is a package whose face gives its spec: `web/`
(the ``web`` env, and ``trac``'s spec as ``TRAC_SPEC``), `desktop/`, `repo/`, `browsergym/`. Each declares
``SPEC = EnvSpec(...)`` (factory, options model, description, default docs, conformance options);
:mod:`lbi.envs.registry` loads them on first use, so ``import lbi.envs`` is cheap.
"""

from __future__ import annotations

from lbi.envs.actions import Action, ActionParseError, ActionSpec, parse_action
from lbi.envs.base import (
    BaseEnv,
    Candidate,
    Env,
    EnvClosed,
    EnvCrashed,
    EnvError,
    Evidence,
    Observation,
    UnknownEnv,
)
from lbi.envs.registry import (
    EnvOptions,
    EnvOptionsError,
    EnvSpec,
    describe_env,
    env_spec,
    list_envs,
    load_envs,
    make_env,
    register_env,
)

__all__ = [
    "Action",
    "ActionParseError",
    "ActionSpec",
    "BaseEnv",
    "Candidate",
    "Env",
    "EnvClosed",
    "EnvCrashed",
    "EnvError",
    "EnvOptions",
    "EnvOptionsError",
    "EnvSpec",
    "Evidence",
    "Observation",
    "UnknownEnv",
    "describe_env",
    "env_spec",
    "list_envs",
    "load_envs",
    "make_env",
    "parse_action",
    "register_env",
]
