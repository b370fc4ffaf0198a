"""The browsergym environment on BrowserGym's own machinery, offline: a task registered by the test suite over a
loopback page (tests/envs/browsergym/bgym_tasks.py), a real MiniWoB++ task from PyPI's miniwob files, the chat window's
browser, and bad input. One env for the module (a BrowserGym reset launches two Chromiums)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from importlib.metadata import requires, version
from pathlib import Path

import pytest

from lbi.agent import Agent
from lbi.agent.loop import Decision, History, Recorder
from lbi.envs import EnvCrashed, EnvError, make_env
from lbi.envs.base import Env, Observation
from lbi.envs.browsergym.env import BrowserGymEnv, parse_seeds
from lbi.envs.checks import CheckSpec, check_task
from lbi.envs.tasks import Task

pytestmark = pytest.mark.browser  # starts it in the tests' own bodies (tests/tiers.py)

IMPORTS = ["tests.envs.browsergym.bgym_tasks"]


def bg_task(task_id: str, seed: int) -> Task:
    return Task(
        id=f"{task_id}@{seed}",
        env="browsergym",
        instruction=f"{task_id} (seed {seed})",
        start={"task": task_id, "seed": seed},
        check=CheckSpec(kind="env_reward"),
        goal_at_reset=True,
    )


@pytest.fixture(scope="module")
def bg_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserGymEnv]:
    env = make_env(
        "browsergym",
        task="lbitest.type-word",
        imports=IMPORTS,
        pre_observation_delay=0.1,
        screenshot_dir=tmp_path_factory.mktemp("bgym-shots"),
    )
    assert isinstance(env, BrowserGymEnv)
    yield env
    env.close()


def test_runs_on_lbis_playwright_without_its_pin() -> None:
    """The install decision: browsergym-core pins playwright==1.44, lbi keeps 1.65 in the shared .venv and
    installs BrowserGym with --no-deps; the other tests here are the proof that it runs on it."""
    assert version("browsergym-core") == "0.14.3"
    assert "playwright==1.44" in [r.replace(" ", "") for r in requires("browsergym-core") or []]
    assert tuple(int(x) for x in version("playwright").split(".")[:2]) >= (1, 65)


def test_goal_at_reset_div_handler_and_reward(bg_env: BrowserGymEnv) -> None:
    task = bg_task("lbitest.type-word", 3)
    obs = bg_env.reset(task)
    assert obs.info["goal"] == 'Start the task, then type "cloud" in the Word box and submit it.'
    assert obs.title == "Type a word" and (obs.url or "").endswith("/type-word.html") and obs.focused
    assert obs.screenshot and Path(obs.screenshot).is_file()
    # the START overlay is a div with a click listener: BrowserGym marks it clickable, so it is a candidate
    start = [c for c in bg_env.interactive_elements(obs) if c.name == "START"]
    assert start and start[0].role == "generic", obs.text
    assert re.search(rf"^\s*\[{start[0].bid}\] generic, clickable=True$", obs.text, re.M), obs.text
    after = bg_env.step(f"click('{start[0].bid}')")
    assert after.last_action_error is None and "START" not in after.text
    assert Path(after.info["action_screenshot"]).name == "000_action.png"
    box = next(c.bid for c in bg_env.interactive_elements(after) if c.kind == "fill")
    button = next(c.bid for c in bg_env.interactive_elements(after) if c.name == "Submit")
    assert bg_env.step(f"fill('{box}', 'cloud')").info["reward"] == 0.0
    assert bg_env.last_obs is not None and not check_task(task, bg_env, bg_env.last_obs).success  # not submitted
    done = bg_env.step(f'click("{button}")')
    assert done.done and done.info["reward"] == 1.0
    result = check_task(task, bg_env, done)
    assert result.success and "'submitted': 'cloud'" in result.detail


def test_wrong_answer_and_action_errors(bg_env: BrowserGymEnv) -> None:
    task = bg_task("lbitest.type-word", 0)  # "apple"
    obs = bg_env.reset(task)
    bad = bg_env.step("click('no-such-bid')")
    assert bad.last_action_error and "no-such-bid" in bad.last_action_error and not bad.done
    assert "unknown action" in (bg_env.step("teleport('1')").last_action_error or "")
    start = next(c.bid for c in bg_env.interactive_elements(obs) if c.name == "START")
    bg_env.step(f"click('{start}')")
    cands = bg_env.interactive_elements()
    bg_env.step(f"fill('{next(c.bid for c in cands if c.kind == 'fill')}', 'pear')")
    done = bg_env.step(f"click('{next(c.bid for c in cands if c.name == 'Submit')}')")
    assert done.done and not check_task(task, bg_env, done).success


def test_chat_window_runs_debians_chromium(bg_env: BrowserGymEnv) -> None:
    """BrowserGym's chat window launches a second Chromium with only headless and args; offline there is no
    downloaded browser, so without lbi's launcher the reset fails. Both browsers are Debian's."""
    bg_env.reset(bg_task("lbitest.type-word", 1))
    inner = bg_env._gym.unwrapped
    debian = subprocess.run(["/usr/lib/chromium/chromium", "--version"], capture_output=True, text=True).stdout
    assert (found := re.search(r"\d+\.\d+\.\d+\.\d+", debian))
    number = found.group(0)
    assert inner.browser.version == number
    assert inner.chat.browser.version == number
    assert inner.chat.page.url == "about:blank" and inner.chat.messages  # the chat holds the goal
    kept = dict(bg_env._pw.chromium.kept)
    bg_env.reset(bg_task("lbitest.type-word", 2))  # keep_browsers: the same two processes, new contexts
    assert bg_env._pw.chromium.kept == kept and bg_env._gym.unwrapped.chat.browser.version == number
    assert all(b.is_connected() and len(b.contexts) == 1 for b in kept.values())


def test_stop_sends_the_answer_to_the_chat(bg_env: BrowserGymEnv) -> None:
    bg_env.reset(bg_task("lbitest.type-word", 2))
    done = bg_env.step("stop('river')")
    assert done.done and done.answer == "river"
    assert bg_env._gym.unwrapped.chat.messages[-1]["message"] == "river"


def test_miniwob_task_offline(tmp_path: Path, bg_env: BrowserGymEnv) -> None:
    """A real MiniWoB++ task (browsergym-miniwob over the miniwob package's HTML, served on loopback)."""
    task = bg_task("miniwob.click-test", 1000)
    obs = bg_env.reset(task)  # the same env switches task ids
    assert obs.info["goal"] == "Click the button." and (obs.url or "").startswith("http://127.0.0.1:")
    button = next(c.bid for c in bg_env.interactive_elements(obs) if c.role == "button")
    done = bg_env.step(f"click('{button}')")
    assert done.done and check_task(task, bg_env, done).success


def test_bad_input_is_one_clear_message(bg_env: BrowserGymEnv) -> None:
    with pytest.raises(EnvError, match="unknown BrowserGym task 'miniwob.no-such-task'; registered ones like it"):
        make_env("browsergym", task="miniwob.no-such-task")
    with pytest.raises(EnvError, match="needs the browsergym-webarena package"):
        make_env("browsergym", task="webarena.1")
    with pytest.raises(EnvError, match="seeds"):
        parse_seeds("10-x")
    with pytest.raises(EnvCrashed, match="lbitest.broken-setup .seed 5. did not set up: RuntimeError: the task's"):
        bg_env.reset(bg_task("lbitest.broken-setup", 5))

    class Clicker:
        name = "llm"

        def act(self, env: Env, task: Task, obs: Observation, history: History, examples: str = "") -> Decision:
            return Decision("noop(0)")

    episode = Agent(Clicker(), bg_env, Recorder(), max_steps=2).run(bg_task("lbitest.broken-setup", 5))
    assert episode.status == "failed" and "did not set up" in (episode.error or "")
    assert bg_env.reset(bg_task("lbitest.type-word", 4)).info["goal"]  # the env goes on
