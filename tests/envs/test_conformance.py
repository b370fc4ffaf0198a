"""The Env contract, checked over every registered environment (Gymnasium's habit)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lbi.envs import Candidate, Env, EnvClosed, Observation, list_envs, make_env
from lbi.envs.base import UnknownEnv


@pytest.fixture()
def env_options(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    name = request.param
    if name == "web":
        site = request.getfixturevalue("site")
        return {"start_url": site.url, "browser": request.getfixturevalue("browser"),
                "screenshot_dir": tmp_path}
    if name == "trac":
        return {"demo": request.getfixturevalue("trac_demo"),
                "browser": request.getfixturevalue("browser"), "screenshot_dir": tmp_path}
    if name == "sql":
        return {"db": request.getfixturevalue("demo_db")}
    if name == "shell":
        return {"workdir_root": tmp_path, "time_limit_s": 5}
    pytest.fail(f"no conformance options for the registered env {name!r}: add them here")


NAMES = list_envs()


def test_builtins_are_registered() -> None:
    assert {"web", "sql", "shell", "trac"} <= set(NAMES)
    with pytest.raises(UnknownEnv, match="registered"):
        make_env("no-such-env")


@pytest.mark.parametrize("env_options", NAMES, indirect=True)
def test_contract(env_options: dict[str, Any]) -> None:
    name = [n for n in NAMES if _matches(n, env_options)][0]
    env = make_env(name, **env_options)
    assert isinstance(env, Env)
    doc = env.action_space_doc()
    assert "stop(answer" in doc and "send_msg_to_user" in doc

    first = env.reset()
    assert isinstance(first, Observation) and first.step == 0 and not first.done
    assert isinstance(first.text, str) and first.state_signature
    cands = env.interactive_elements(first)
    assert cands and all(isinstance(c, Candidate) for c in cands)

    obs = env.step("noop()")
    assert obs.step == 1 and obs.last_action_error is None and not obs.done
    bad = env.step("definitely_not_an_action(1)")
    assert bad.last_action_error and "unknown action" in bad.last_action_error
    assert not bad.done and bad.step == 2
    garbage = env.step("")
    assert garbage.last_action_error and not garbage.done

    if env.deterministic_reset:
        second = env.reset()
        assert second.text == first.text and second.state_signature == first.state_signature

    env.reset()
    done = env.step("stop('42')")
    assert done.done and done.answer == "42"
    after = env.step("noop()")
    assert after.done and after.last_action_error

    env.close()
    env.close()  # idempotent
    with pytest.raises(EnvClosed):
        env.step("noop()")
    with pytest.raises(EnvClosed):
        env.reset()


@pytest.mark.parametrize("env_options", NAMES, indirect=True)
def test_context_manager(env_options: dict[str, Any]) -> None:
    name = [n for n in NAMES if _matches(n, env_options)][0]
    with make_env(name, **env_options) as env:
        env.reset()
    assert env.closed  # type: ignore[attr-defined]


def _matches(name: str, options: dict[str, Any]) -> bool:
    keys = {"web": "start_url", "trac": "demo", "sql": "db", "shell": "workdir_root"}
    return keys.get(name, "") in options
