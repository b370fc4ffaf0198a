"""Environments behind one protocol: ``web`` (Playwright + Chromium), ``sql`` (SQLite),
``shell`` (bubblewrap sandbox) and ``trac`` (the web env on the bundled Trac demo).

>>> from lbi.envs import make_env
>>> with make_env("sql", db="my.db") as env:
...     obs = env.reset()
...     obs = env.step('execute_sql("SELECT 1")')

Heavy imports (Playwright) happen only when a web env is built.
"""

from __future__ import annotations

from typing import Any

from lbi.envs.actions import Action, ActionParseError, ActionSpec, parse_action
from lbi.envs.base import (
    BaseEnv,
    Candidate,
    Env,
    EnvClosed,
    EnvCrashed,
    EnvError,
    Observation,
    UnknownEnv,
    describe_env,
    list_envs,
    make_env,
    register_env,
)


def _web(**options: Any) -> Env:
    from lbi.envs.web import WebEnv

    return WebEnv(**options)


def _sql(**options: Any) -> Env:
    from lbi.envs.sql import make_sql_env

    options.pop("screenshot_dir", None)  # every factory takes it; a table has nothing to screenshot
    return make_sql_env(**options)


def _shell(**options: Any) -> Env:
    from lbi.envs.shell import ShellEnv

    options.pop("screenshot_dir", None)  # every factory takes it; a terminal has nothing to screenshot
    return ShellEnv(**options)


def _trac(**options: Any) -> Env:
    from lbi.envs.trac import make_trac_env

    return make_trac_env(**options)


register_env("web", _web, description="A Chromium browser confined to allowed origins "
             "(options: start_url, allowed_origins, screenshot_dir, browser, ...).")
register_env("sql", _sql, description="An SQLite database, read-only by default "
             "(options: db; default: the seeded Trac demo database).")
register_env("shell", _shell, description="bash in a bubblewrap sandbox without network "
             "(options: seed_dir, time_limit_s, ...).")
register_env("trac", _trac, description="The web env on the bundled Trac demo "
             "(options: demo, demo_dir, screenshot_dir, browser, ...).")

__all__ = ["Action", "ActionParseError", "ActionSpec", "BaseEnv", "Candidate", "Env",
           "EnvClosed", "EnvCrashed", "EnvError", "Observation", "UnknownEnv",
           "describe_env", "list_envs", "make_env", "parse_action", "register_env"]
