"""Environments behind one protocol, one module each: ``web`` (Playwright + Chromium), ``trac`` (the web
env on the bundled Trac demo), ``sql`` (SQLite), ``shell`` (bubblewrap sandbox) and ``repo`` (a git repository
in that sandbox, SWE-bench style).

>>> from lbi.envs import make_env
>>> with make_env("sql", db="my.db") as env:
...     obs = env.reset()
...     obs = env.step('execute_sql("SELECT 1")')

Each env module declares ``SPEC = EnvSpec(...)`` (factory, options model, description, default docs,
conformance options); :mod:`lbi.envs.registry` loads them on first use, so ``import lbi.envs`` is cheap.
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

__all__ = ["Action", "ActionParseError", "ActionSpec", "BaseEnv", "Candidate", "Env", "EnvClosed",
           "EnvCrashed", "EnvError", "EnvOptions", "EnvOptionsError", "EnvSpec", "Evidence", "Observation",
           "UnknownEnv", "describe_env", "env_spec", "list_envs", "load_envs", "make_env", "parse_action",
           "register_env"]
