"""The Env contract, checked over every registered environment (Gymnasium's habit): each spec says which
options to build it with (``EnvSpec.conformance``), :func:`lbi.envs.conformance.check_env` drives it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lbi.envs import EnvSpec, env_spec, list_envs, make_env
from lbi.envs.base import UnknownEnv
from lbi.envs.conformance import ConformanceError, check_env
from lbi.envs.registry import ConformanceContext

NAMES = list_envs()
ENV_TIERS: dict[str, tuple[str, ...]] = {
    "web": ("browser",),
    "trac": ("browser", "trac"),
    "sql": (),
    "shell": ("sandbox",),
    "repo": ("sandbox",),
    "desktop": ("desktop",),
    "browsergym": ("browser",),
}
"""What building each env starts (tests/tiers.py): its contract test carries those tiers."""


def conformance_context(request: pytest.FixtureRequest, tmp_path: Path) -> ConformanceContext:
    """The shared test resources a spec's ``conformance`` callable may ask for, by name."""

    def resource(name: str) -> Any:
        if name == "site_url":
            return request.getfixturevalue("site").url
        fixture = {
            "browser": "browser",
            "trac_demo": "trac_demo",
            "trac_db": "demo_db",
            "desktop_session": "desktop_session",
        }.get(name)
        if fixture is None:
            pytest.fail(f"no conformance resource {name!r}")
        return request.getfixturevalue(fixture)

    return ConformanceContext(tmp_path=tmp_path, resource=resource)


def test_builtins_are_registered() -> None:
    assert {"web", "sql", "shell", "trac", "repo", "desktop"} <= set(NAMES)
    with pytest.raises(UnknownEnv, match="registered"):
        make_env("no-such-env")
    assert str(UnknownEnv("unknown environment 'x'")) == "unknown environment 'x'"  # not quoted like a KeyError


def test_every_env_has_its_tiers() -> None:
    assert set(ENV_TIERS) == set(NAMES)


@pytest.mark.parametrize(
    "name", [pytest.param(name, marks=[getattr(pytest.mark, t) for t in ENV_TIERS.get(name, ())]) for name in NAMES]
)
def test_contract(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    spec: EnvSpec = env_spec(name)
    options = spec.conformance(conformance_context(request, tmp_path)) if spec.conformance else {}
    check_env(lambda: make_env(name, **options))


def test_a_broken_env_is_named() -> None:
    from lbi.envs.base import BaseEnv, Observation

    class Sticky(BaseEnv):  # stop() does not end its episodes
        name = "sticky"

        def _reset(self, task: object) -> Observation:
            return Observation(text="x", state_signature="s")

        def _observe(self) -> Observation:
            return Observation(text="x", state_signature="s")

        def _dispatch(self, action: Any) -> Observation:
            return self._observe()

        def interactive_elements(self, obs: Observation | None = None) -> list[Any]:
            from lbi.envs import Candidate

            return [Candidate("action", action="noop()")]

    with pytest.raises(ConformanceError, match=r"stop\('42'\) must end the episode"):
        check_env(Sticky)
