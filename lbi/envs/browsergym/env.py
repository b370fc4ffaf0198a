"""The ``browsergym`` environment: any registered BrowserGym task as an lbi environment.

    lbi init mine --env browsergym --option task=miniwob.click-test     # MINIWOB_URL: see docs/envs.md

Each reset builds the task (``task.start = {"task": id, "seed": n}``; the env's ``task`` option and a seed drawn
from ``synth_seeds`` otherwise) and lets BrowserGym set it up; the goal the task states at reset comes back as
``obs.info["goal"]`` (the agent loop makes it the instruction of a task marked ``goal_at_reset``).

Observation: BrowserGym's accessibility tree with its bids, flattened to text
(``browsergym.utils.obs.flatten_axtree_to_str``, elements with event handlers marked ``clickable``), the URL,
the title, the focused element's bid, and the screenshot saved as the ``web`` env saves it
(``<screenshot_dir>/<episode>/<step>.png``, plus ``<step>_action.png`` with the acted-on element boxed).

Actions: BrowserGym's own high-level actions (``action_subsets``, BrowserGym's default set), parsed and held to
lbi's action grammar, then passed to BrowserGym in its syntax; its ``last_action_error`` is the observation's.
``stop(answer)`` sends the answer to BrowserGym's chat (tasks such as WebArena's read it there) and ends the
episode. Reward and termination come from the task's ``validate``: ``obs.info["reward"]``, the episode's total in
``evidence().reward`` (the ``env_reward`` check), ``obs.done`` when the task says it is over.

One BrowserGym env per process: BrowserGym's Playwright is a process global (parallel rollouts use worker
processes). Launches go through :mod:`lbi.envs.browsergym.bridge` (Debian's Chromium, the chat window too).
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, field_validator

from lbi.envs.actions import Action, ActionSpec
from lbi.envs.base import COMMON_ACTIONS, BaseEnv, Candidate, EnvCrashed, EnvError, Evidence, Observation, Task
from lbi.envs.browsergym.bridge import (
    DEFAULT_SUBSETS,
    LbiPlaywright,
    action_specs,
    call_text,
    crashed,
    ensure_registered,
    target_bid,
    use_lbi_playwright,
)
from lbi.envs.registry import ConformanceContext, EnvOptions, EnvSpec
from lbi.envs.screenshots import draw_box
from lbi.envs.web.browser import web_signature
from lbi.observations import CLICK_ROLES, FILL_ROLES, SELECT_ROLES


def parse_seeds(text: str) -> list[int]:
    """``"1000-1099"`` / ``"1,2,5-7"`` → the seeds, in order; one clear error otherwise."""
    seeds: list[int] = []
    for part in str(text).replace(" ", "").split(","):
        lo, sep, hi = part.partition("-")
        try:
            first, last = int(lo), int(hi) if sep else int(lo)
        except ValueError:
            raise EnvError(f"seeds {text!r}: write a range like 1000-1099 or a list like 1,2,5-7") from None
        if last < first:
            raise EnvError(f"seeds {text!r}: {part} is an empty range")
        seeds += range(first, last + 1)
    return list(dict.fromkeys(seeds))


class BrowserGymEnv(BaseEnv):
    """A BrowserGym task behind lbi's Env protocol; see the module docstring."""

    name: ClassVar[str] = "browsergym"
    deterministic_reset: ClassVar[bool] = True  # same task and seed → same page (for seeded tasks)
    intro = (
        "You control a web browser (BrowserGym). The page is shown as an accessibility tree: elements you "
        "can act on have an id in brackets, e.g. [12]; use that id as bid. One action per step; when the "
        "task is done, call stop(answer) (or send_msg_to_user(answer))."
    )

    def __init__(
        self,
        task: str = "openended",
        *,
        task_kwargs: dict[str, Any] | None = None,
        synth_seeds: str = "0-999",
        imports: tuple[str, ...] = (),
        action_subsets: tuple[str, ...] = DEFAULT_SUBSETS,
        screenshot_dir: str | Path | None = None,
        screenshots: bool = True,
        highlight: bool = True,
        max_text_chars: int = 20000,
        pre_observation_delay: float = 0.5,
        slow_mo: int | None = None,
        timeout: int | None = None,
        viewport: tuple[int, int] | None = None,
        offline: bool = True,
        keep_browsers: bool = True,
    ) -> None:
        super().__init__()
        self.task_id, self.task_kwargs = task, dict(task_kwargs or {})
        self.synth_seeds = parse_seeds(synth_seeds)
        self.imports = tuple(imports)
        ensure_registered(task, self.imports)  # a wrong id or a missing package fails here, with its message
        self.actions = {**action_specs(tuple(action_subsets)), "stop": COMMON_ACTIONS["stop"]}
        self.screenshot_dir = Path(screenshot_dir) if screenshot_dir else None
        self.screenshots, self.highlight = screenshots and self.screenshot_dir is not None, highlight
        self.max_text_chars = max_text_chars
        self.bg_kwargs: dict[str, Any] = {
            "pre_observation_delay": pre_observation_delay,
            "slow_mo": slow_mo,
            "timeout": timeout,
        }
        if viewport:
            self.bg_kwargs["viewport"] = {"width": viewport[0], "height": viewport[1]}
        self._pw = LbiPlaywright(offline=offline, keep_browsers=keep_browsers)
        self._gym: Any = None  # the gymnasium env of the current task id
        self._gym_task: str | None = None
        self.raw: dict[str, Any] = {}  # BrowserGym's last observation
        self.reward = 0.0  # the episode's total reward
        self.task_info: dict[str, Any] = {}
        self.goal = ""

    # -- lifecycle -------------------------------------------------------------------------
    def seed_for(self, task: Task | None) -> tuple[str, int]:
        """The BrowserGym task id and seed of an lbi task: its ``start``, else the option and a synthesis seed
        chosen by the task id (the same task, the same seed)."""
        start = task.start if task else {}
        task_id = str(start.get("task") or self.task_id)
        if "seed" in start:
            return task_id, int(start["seed"])
        key = task.id if task else ""
        return task_id, self.synth_seeds[zlib.crc32(key.encode()) % len(self.synth_seeds)] if key else self.synth_seeds[
            0
        ]

    def _bg(self, task_id: str) -> Any:
        if self._gym is None or self._gym_task != task_id:
            import gymnasium as gym

            self._close_gym()
            gym_id = ensure_registered(task_id, self.imports)
            kwargs = {k: v for k, v in self.bg_kwargs.items() if v is not None}
            if task_id == self.task_id and self.task_kwargs:
                kwargs["task_kwargs"] = self.task_kwargs
            self._gym = gym.make(gym_id, disable_env_checker=True, headless=True, **kwargs)
            self._gym_task = task_id
        return self._gym

    def _reset(self, task: Task | None) -> Observation:
        task_id, seed = self.seed_for(task)
        use_lbi_playwright(self._pw)
        gym_env = self._bg(task_id)
        try:
            raw, info = gym_env.reset(seed=seed)
        except EnvError:
            raise
        except Exception as err:  # a third-party task's setup: any failure is this episode's, said in one line
            raise EnvCrashed(f"BrowserGym task {task_id} (seed {seed}) did not set up: {crashed(err)}") from err
        self.raw, self.reward, self.task_info = raw, 0.0, _jsonable(info.get("task_info") or {})
        self.goal = str(raw.get("goal") or "")
        obs = self._to_obs(raw)
        obs.info.update(goal=self.goal, task=task_id, seed=seed)
        return obs

    def _close_gym(self) -> None:
        if self._gym is not None:
            try:
                self._gym.close()
            except Exception:  # noqa: BLE001  closing a browser that already died: nothing left to release
                pass
            self._gym = self._gym_task = None

    def _close(self) -> None:
        self._close_gym()
        self._pw.release()

    # -- acting ------------------------------------------------------------------------------
    def _dispatch(self, action: Action) -> Observation:
        spec = self.actions[action.name]
        if action.name == "stop":
            answer = str(action.args[0])
            obs = (
                self._send(Action("send_msg_to_user", (answer,)), self.actions["send_msg_to_user"])
                if answer
                else self._observe()
            )
            obs.done, obs.answer = True, answer
            return obs
        obs = self._send(action, spec)
        if action.name == "send_msg_to_user":
            obs.done, obs.answer = True, str(action.args[0])
        return obs

    def _send(self, action: Action, spec: ActionSpec) -> Observation:
        if self._gym is None:
            return self._error_obs("no page (call reset first)")
        bid = target_bid(action, spec)
        box = self._box(bid) if bid and self.highlight else None
        text = call_text(action, spec)
        use_lbi_playwright(self._pw)
        try:
            raw, reward, terminated, truncated, info = self._gym.step(text)
        except Exception as err:  # noqa: BLE001  the browser or the task's validate died: the episode ends
            msg = f"BrowserGym failed on {text}: {crashed(err)}"
            return Observation(
                text="", done=True, last_action_error=msg, state_signature="browsergym:crashed", info={"crashed": msg}
            )
        self.raw = raw
        self.reward += float(reward or 0.0)
        self.task_info = _jsonable(info.get("task_info") or {})
        obs = self._to_obs(raw)
        obs.last_action_error = raw.get("last_action_error") or None
        obs.done = bool(terminated or truncated)
        obs.info.update(
            action=text,
            reward=float(reward or 0.0),
            total_reward=self.reward,
            terminated=bool(terminated),
            truncated=bool(truncated),
        )
        if box and self.last_obs and self.last_obs.screenshot:
            obs.info["action_screenshot"] = draw_box(self.last_obs.screenshot, box)
        return obs

    def _box(self, bid: str) -> dict[str, float] | None:
        props = (self.raw.get("extra_element_properties") or {}).get(bid) or {}
        bbox = props.get("bbox")
        return {"x": bbox[0], "y": bbox[1], "width": bbox[2], "height": bbox[3]} if bbox else None

    # -- observing ---------------------------------------------------------------------------
    def _observe(self) -> Observation:
        return self._to_obs(self.raw) if self.raw else Observation(text="", state_signature="browsergym:blank")

    def _to_obs(self, raw: dict[str, Any]) -> Observation:
        from browsergym.utils.obs import flatten_axtree_to_str

        text = flatten_axtree_to_str(_mark_clickable(raw), skip_generic=True)
        if len(text) > self.max_text_chars:
            text = text[: self.max_text_chars] + f"\n… (truncated: {len(text)} characters)"
        titles, active = raw.get("open_pages_titles") or (), int(raw.get("active_page_index", [0])[0])
        title = titles[active] if active < len(titles) else ""
        url = raw.get("url") or ""
        return Observation(
            text=text,
            url=url,
            title=title,
            focused=raw.get("focused_element_bid") or None,
            screenshot=self._screenshot(raw.get("screenshot")),
            state_signature=web_signature(url, title),
            info={
                "n_elements": len(self.interactive_elements(None, raw)),
                "open_pages": list(raw.get("open_pages_urls") or ()),
            },
        )

    def _screenshot(self, pixels: Any) -> str | None:
        if not self.screenshots or self.screenshot_dir is None or pixels is None:
            return None
        from PIL import Image

        path = self.screenshot_dir / self.episode_id / f"{self._steps:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(path, compress_level=1)  # zlib's fastest: ~4x faster than the default
        return str(path)

    def interactive_elements(
        self, obs: Observation | None = None, raw: dict[str, Any] | None = None
    ) -> list[Candidate]:
        """Visible elements with a bid that a user can act on: by their role, or because BrowserGym saw an
        event handler on them (``clickable``: a ``div`` with a click listener)."""
        return candidates(raw if raw is not None else self.raw)

    def page_text(self) -> str:
        page = getattr(getattr(self._gym, "unwrapped", None), "page", None)
        if page is None:
            return ""
        try:
            return str(page.inner_text("body", timeout=5000))
        except Exception:  # noqa: BLE001  a closed or crashed page has no text to check
            return ""

    def evidence(self) -> Evidence:
        return Evidence(page_text=self.page_text(), reward=self.reward, env_info=self.task_info)


def candidates(raw: dict[str, Any]) -> list[Candidate]:
    """The actionable elements of a BrowserGym observation (`BrowserGymEnv.interactive_elements`)."""
    props = raw.get("extra_element_properties") or {}
    out: list[Candidate] = []
    nodes = (raw.get("axtree_object") or {}).get("nodes", [])
    by_id = {n["nodeId"]: n for n in nodes}
    for node in nodes:
        bid = node.get("browsergym_id")
        if not bid or node.get("ignored"):
            continue
        prop = props.get(bid) or {}
        if (prop.get("visibility") or 0) < 0.5:
            continue
        role = str((node.get("role") or {}).get("value", ""))
        name = str((node.get("name") or {}).get("value", ""))[:80] or _text_below(node, by_id)
        if role in FILL_ROLES:
            out.append(Candidate("fill", bid=bid, role=role, name=name))
        elif role in SELECT_ROLES:
            out.append(Candidate("click", bid=bid, role=role, name=name))
        elif role in CLICK_ROLES or prop.get("clickable"):
            out.append(Candidate("click", bid=bid, role=role, name=name))
    return out


def _mark_clickable(raw: dict[str, Any]) -> dict[str, Any]:
    """The AX tree with ``clickable=True`` among the properties of every element BrowserGym found an event
    handler on. ``flatten_axtree_to_str(with_clickable=True)`` would mark them too, but it drops a ``generic``
    node without properties before it looks, so a ``div`` acting through a click listener (a "START" overlay)
    would lose its bid; as a property it keeps its line and bid."""
    props = raw.get("extra_element_properties") or {}
    nodes = []
    for node in (raw.get("axtree_object") or {}).get("nodes", []):
        if (props.get(node.get("browsergym_id") or "") or {}).get("clickable"):
            node = {
                **node,
                "properties": [
                    *node.get("properties", []),
                    {"name": "clickable", "value": {"type": "boolean", "value": True}},
                ],
            }
        nodes.append(node)
    return {**(raw.get("axtree_object") or {}), "nodes": nodes}


def _text_below(node: dict[str, Any], by_id: dict[str, dict[str, Any]], limit: int = 80) -> str:
    """The text of a node's descendants (a name for a ``generic`` element that has none)."""
    words: list[str] = []
    stack = list(reversed(node.get("childIds", [])))
    while stack and sum(map(len, words)) < limit:
        child = by_id.get(stack.pop())
        if child is None:
            continue
        if (child.get("role") or {}).get("value") == "StaticText":
            words.append(str((child.get("name") or {}).get("value", "")))
        stack += reversed(child.get("childIds", []))
    return " ".join(" ".join(words).split())[:limit]


def _jsonable(value: Any) -> dict[str, Any]:
    return json.loads(json.dumps(value, default=str))


class BrowserGymOptions(EnvOptions):
    """Options of the ``browsergym`` environment."""

    task: str = Field(
        default="openended",
        description="The BrowserGym task id (e.g. miniwob.click-test) for tasks that do not name one in start.task.",
    )
    task_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Arguments of that task (openended: start_url, goal)."
    )
    synth_seeds: str = Field(
        default="0-999",
        description="Seeds for tasks without start.seed (synthesis); "
        "held-out seeds must lie outside (lbi tasks import "
        "--browsergym checks).",
    )
    imports: list[str] = Field(
        default_factory=list, description="Modules to import first: they register BrowserGym tasks of your own."
    )
    action_subsets: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SUBSETS),
        description="BrowserGym HighLevelActionSet subsets the agent may use.",
    )
    screenshots: bool = Field(default=True, description="Save a PNG per step (needs screenshot_dir).")
    highlight: bool = Field(default=True, description="Also save the screenshot with the acted-on element boxed.")
    max_text_chars: int = Field(default=20000, description="The observation text is cut here, with a note.")
    pre_observation_delay: float = Field(
        default=0.5, description="Seconds BrowserGym waits after an action before it observes (its default)."
    )
    slow_mo: int | None = Field(default=None, description="Playwright slow_mo in ms (default: the task's).")
    timeout: int | None = Field(default=None, description="Playwright timeout in ms (default: the task's).")
    viewport: tuple[int, int] | None = Field(default=None, description="Width, height (default: the task's).")
    offline: bool = Field(
        default=True,
        description="No host but 127.0.0.1 resolves (false for a benchmark served on other hosts, e.g. WebArena).",
    )
    keep_browsers: bool = Field(
        default=True,
        description="Launch BrowserGym's two Chromiums once per env; every "
        "reset gets new contexts (false: BrowserGym relaunches "
        "them at every reset).",
    )

    @field_validator("synth_seeds")
    @classmethod
    def _seeds(cls, value: str) -> str:
        try:
            parse_seeds(value)
        except EnvError as err:
            raise ValueError(str(err)) from None
        return value


def _make(options: BrowserGymOptions) -> BrowserGymEnv:
    kw = options.kwargs()
    kw["imports"], kw["action_subsets"] = tuple(kw["imports"]), tuple(kw["action_subsets"])
    return BrowserGymEnv(**kw)


def _conformance(ctx: ConformanceContext) -> dict[str, Any]:
    ctx.resource("browser")  # lbi's driver of this thread, which BrowserGym then shares
    return {
        "task": "openended",
        "task_kwargs": {"start_url": ctx.resource("site_url"), "goal": "Look around."},
        "screenshot_dir": ctx.tmp_path,
        "pre_observation_delay": 0.0,
        "slow_mo": 0,
    }


SPEC = EnvSpec(
    name="browsergym",
    factory=_make,
    options=BrowserGymOptions,
    description="Any registered BrowserGym task (options: task, task_kwargs, synth_seeds, imports, ...); "
    "goal and reward from the task.",
    conformance=_conformance,
)

__all__ = ["SPEC", "BrowserGymEnv", "BrowserGymOptions", "parse_seeds"]
