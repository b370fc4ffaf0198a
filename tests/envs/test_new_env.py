"""Adding an environment = one module + one line. Proven with a toy env that lives outside lbi: its
module in a temp folder, registered by the one line of a package's entry points (``toy = toy_env:SPEC`` in
the group ``lbi.envs``), then built, listed, configured and checked like the built-ins."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lbi.cli import app as lbi_app
from lbi.config import load_config
from lbi.envs import EnvOptionsError, list_envs, load_envs, make_env
from lbi.envs.conformance import check_env
from lbi.envs.registry import BUILTIN_MODULES, builtin_spec, unregister_env
from lbi.envs.tasks import Task, check_task

TOY_MODULE = '''"""A counter you add to: the whole environment in one module."""

from pydantic import Field

from lbi.envs import BaseEnv, Candidate, EnvOptions, EnvSpec, Evidence, Observation
from lbi.envs.actions import ActionSpec
from lbi.envs.base import COMMON_ACTIONS


class ToyOptions(EnvOptions):
    start: int = Field(default=0, description="The counter after reset.")


class ToyEnv(BaseEnv):
    name = "toy"
    actions = {"add": ActionSpec("add", (("n", float),), "Add n to the counter.", "add(2)"), **COMMON_ACTIONS}

    def __init__(self, start: int) -> None:
        super().__init__()
        self.start = self.value = start

    def _reset(self, task):
        self.value = self.start
        return self._observe()

    def _execute(self, action):
        self.value += int(action.args[0])
        return self._observe()

    def _observe(self):
        return Observation(text=f"counter = {self.value}", state_signature=f"toy:{self.value}")

    def interactive_elements(self, obs=None):
        return [Candidate("action", action="add(1)")]

    def evidence(self):
        return Evidence(last_rows=[(self.value,)])


SPEC = EnvSpec(name="toy", factory=lambda options: ToyEnv(options.start), options=ToyOptions,
               description="A counter you add to (option start).")
'''


@pytest.fixture()
def toy_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``toy_env.py`` plus the dist-info an installed package would have, on sys.path."""
    (tmp_path / "toy_env.py").write_text(TOY_MODULE)
    info = tmp_path / "lbi_toy-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lbi-toy\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[lbi.envs]\ntoy = toy_env:SPEC\n")  # the one line
    monkeypatch.syspath_prepend(str(tmp_path))
    load_envs(refresh=True)
    yield tmp_path
    unregister_env("toy")
    sys.modules.pop("toy_env", None)


def test_a_plugin_env_is_built_listed_configured_and_conforms(toy_plugin: Path) -> None:
    assert "toy" in list_envs()
    with make_env("toy", start=3) as env:
        assert env.reset().text == "counter = 3"
        assert (obs := env.step("add(2)")).text == "counter = 5"
        task = Task(id="t", env="toy", instruction="Make it 5", check={"kind": "sql_result", "params": {"rows": [[5]]}})
        assert check_task(task, env, obs).success
    with pytest.raises(EnvOptionsError, match="unknown option 'strat' \\(did you mean 'start'\\?\\)"):
        make_env("toy", strat=3)
    check_env(lambda: make_env("toy", start=1))

    runner = CliRunner()
    listed = runner.invoke(lbi_app, ["env", "list", "--options"])
    assert listed.exit_code == 0 and "A counter you add to" in listed.output
    assert "start: int, default 0: The counter after reset." in listed.output
    tried = runner.invoke(lbi_app, ["env", "try", "toy", "-o", "start=40", "-a", "add(2)"])
    assert tried.exit_code == 0 and "counter = 42" in tried.output, tried.output
    made = runner.invoke(lbi_app, ["init", str(toy_plugin / "proj"), "--env", "toy", "--option", "start=7"])
    assert made.exit_code == 0, made.output
    config = load_config(toy_plugin / "proj")
    assert (config.env.name, config.env.options) == ("toy", {"start": 7})
    refused = runner.invoke(lbi_app, ["init", str(toy_plugin / "other"), "--env", "toy", "-o", "start=seven"])
    assert isinstance(refused.exception, EnvOptionsError) and "option 'start'" in str(refused.exception)
    assert not (toy_plugin / "other" / "lbi.toml").exists()


def test_builtins_are_one_module_or_family_each() -> None:
    for name, where in BUILTIN_MODULES.items():
        spec = builtin_spec(where)
        assert spec.name == name and name in list_envs()
        assert spec.description and spec.options.model_config.get("extra") == "forbid"
        assert where.startswith("lbi.envs.") and where.count(".") == 2, f"{where}: a module or a package of lbi.envs"


def test_an_env_module_is_imported_when_that_env_is_asked_for() -> None:
    import subprocess

    code = (
        "import sys; from lbi.envs import list_envs, make_env, EnvOptionsError\n"
        "assert 'trac' in list_envs() and 'lbi.envs.web' not in sys.modules\n"
        "try: make_env('sql')\n"
        "except EnvOptionsError: pass\n"
        "assert 'lbi.envs.sql' in sys.modules and 'playwright' not in sys.modules, sorted(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])


def test_a_family_gives_its_spec_only_when_asked() -> None:
    """The light modules of the web family (its actions, the Trac server) load without Playwright; the face gives
    the specs when asked for."""
    import subprocess

    code = (
        "import sys; import lbi.envs.web.actions, lbi.envs.web.trac_server\n"
        "assert 'playwright' not in sys.modules and 'lbi.envs.web.env' not in sys.modules\n"
        "from lbi.envs.web import SPEC, TRAC_SPEC\n"
        "assert (SPEC.name, TRAC_SPEC.name) == ('web', 'trac') and 'playwright' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])
