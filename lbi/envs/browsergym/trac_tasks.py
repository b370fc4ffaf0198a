"""The reverse direction: lbi's held-out Trac tasks as BrowserGym tasks, so any BrowserGym agent (AgentLab's) can
be evaluated on them.

    import lbi.envs.browsergym.trac_tasks            # registers browsergym/lbi.trac-web-001 ... lbi.trac-web-033
    env = gymnasium.make("browsergym/lbi.trac-web-021")

Importing this module registers every task of ``data/demo/tasks/trac_web.jsonl`` as ``lbi.<task id>``
(:func:`register_lbi_tasks` registers others). Each is an ``AbstractBrowserTask``:

* ``setup`` restores Trac's pristine state (``TracDemo.reset``), opens the task's start URL and states the task's
  instruction as the goal;
* ``validate`` runs lbi's own check on what BrowserGym can show it: the page (URL, text), Trac's database, and the
  agent's answer, which is its last message in the chat (``send_msg_to_user``; lbi's ``stop(answer)`` sends one).
  Reward 1 when the check passes; the episode is done then, or once the agent has answered.

The Trac demo is started once per process on first use (``$LBI_DEMO_DIR``), or :func:`use_demo` gives a running
one (the tests' shared demo). ``lbi`` names its elements by ``id``/``name`` where BrowserGym numbers them, so a
reference solution is replayed through BrowserGym by :func:`browsergym_action`, which finds the element's
BrowserGym bid.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urljoin

from browsergym.core.registration import register_task
from browsergym.core.task import AbstractBrowserTask

from lbi.envs.actions import BID_ACTIONS, Action, parse_action
from lbi.envs.base import Evidence, Observation
from lbi.envs.checks import evidence_check
from lbi.envs.tasks import load_tasks
from lbi.envs.web.actions import WEB_ACTIONS
from lbi.paths import demo_data_dir

if TYPE_CHECKING:
    from lbi.envs.base import Task
    from lbi.envs.web.trac_server import TracDemo

PREFIX = "lbi."
_demo: TracDemo | None = None
_lock = threading.Lock()


def use_demo(demo: TracDemo) -> None:
    """Run the registered tasks on this (running) Trac demo instead of starting one."""
    global _demo
    _demo = demo


def demo() -> TracDemo:
    global _demo
    with _lock:
        if _demo is None:
            from lbi.envs.web.trac_server import TracDemo

            _demo = TracDemo().start()
        return _demo


def answer_of(chat_messages: list[dict[str, Any]]) -> str | None:
    """The agent's last message after the user's goal (BrowserGym's chat opens with an assistant greeting)."""
    asked = False
    answer = None
    for message in chat_messages:
        if message.get("role") == "user":
            asked = True
        elif asked and message.get("role") == "assistant":
            answer = str(message.get("message", ""))
    return answer


class LbiTask(AbstractBrowserTask):
    """One lbi task (``task``, set by :func:`register_lbi_tasks`) on the Trac demo."""

    task: Task

    @classmethod
    def get_task_id(cls) -> str:
        return PREFIX + cls.task.id

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self.slow_mo, self.timeout = 0, 5000  # lbi's web env acts without slow motion

    def setup(self, page: Any) -> tuple[str, dict[str, Any]]:
        trac = demo()
        trac.reset()
        page.context.clear_cookies()
        page.goto(urljoin(trac.base_url + "/", str(self.task.start.get("url", "/")).lstrip("/")))
        return self.task.instruction, {"lbi_task": self.task.id, "check": self.task.check.kind}

    def validate(self, page: Any, chat_messages: list[dict[str, Any]]) -> tuple[float, bool, str, dict[str, Any]]:
        answer = answer_of(chat_messages)
        try:
            text = str(page.inner_text("body", timeout=5000))
        except Exception:  # noqa: BLE001  a page mid-navigation has no text yet: the check sees none
            text = ""
        obs = Observation(text="", url=page.url, answer=answer)
        result = evidence_check(self.task, Evidence(database=demo().db_path, page_text=text), obs)
        done = result.success or answer is not None
        return float(result.success), done, "", {"detail": result.detail, "error": result.error}


def register_lbi_tasks(tasks: list[Task]) -> list[str]:
    """Register each task as the BrowserGym task ``lbi.<id>``; returns the ids."""
    ids = []
    for task in tasks:
        cls = cast("type[LbiTask]", type(f"LbiTask_{task.id.replace('-', '_')}", (LbiTask,), {"task": task}))
        register_task(cls.get_task_id(), cls, nondeterministic=False)
        ids.append(cls.get_task_id())
    return ids


def browsergym_action(action: str, page: Any) -> str:
    """An lbi web action (its bids are element ids or names, its URLs relative) as BrowserGym would take it on
    ``page``: the element's BrowserGym bid, an absolute URL. For replaying reference solutions."""
    parsed = parse_action(action, WEB_ACTIONS)
    args = list(parsed.args)
    if parsed.name in BID_ACTIONS:
        bid = page.evaluate(
            """(key) => { const el = document.getElementById(key) || document.getElementsByName(key)[0];
                                          return el ? el.getAttribute('bid') : null; }""",
            args[0],
        )
        if bid is None:
            raise ValueError(f"{action}: no element with id or name {args[0]!r} on {page.url}")
        args[0] = bid
    elif parsed.name == "goto":
        args[0] = urljoin(page.url, args[0])
    return Action(parsed.name, tuple(args)).to_text()


def _register_demo() -> list[str]:
    return register_lbi_tasks([t for t in load_tasks(demo_data_dir() / "tasks") if t.env == "trac"])


DEMO_TASK_IDS = _register_demo()

__all__ = ["DEMO_TASK_IDS", "LbiTask", "answer_of", "browsergym_action", "demo", "register_lbi_tasks", "use_demo"]
