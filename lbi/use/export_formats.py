"""Kept examples in the formats other agent tools load (besides lbi's chat JSONL, `lbi.use.export`):

* ``agentlab``: one record per step, shaped like BrowserGym/AgentLab's step info: ``goal``, ``step``, ``obs``
  (``goal``, ``axtree_txt`` — the observation text —, ``url``, ``last_action``, ``last_action_error``,
  ``screenshot``), ``action`` (BrowserGym's call syntax), ``agent_info.think`` (the reasoning), ``reward``,
  ``terminated``, ``truncated``. An example's instruction is what its span accomplishes (backward construction,
  kept by the committee), so the reward is 1 at its last step and 0 before, where ``terminated`` is true.
* ``adp``: one record per example in the Agent Data Protocol's standardized format (neulab/agent-data-protocol,
  schema 1.2.0): ``{"schema_version", "id", "content", "details"}``; ``content`` = the instruction as a user
  ``text_observation``, then per step the observation (``web_observation`` with ``axtree``, ``url`` and the
  screenshot as an ``image_observation``; a ``text_observation`` from the ``system`` for the other envs) and the
  action (``api_action`` with ``function``, ``kwargs`` by parameter name, ``description`` = the reasoning;
  ``stop``/``send_msg_to_user`` as a ``message_action``), each action and the observation it led to linked by
  ``tool_call_id``, as the protocol's validator requires.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import Any

from lbi.envs.actions import ActionSpec

ADP_VERSION = "1.2.0"
MESSAGE_ACTIONS = ("stop", "send_msg_to_user")


def _specs(env: str) -> dict[str, ActionSpec]:
    """The action specs of an env, to name an action's arguments (empty when its module is not at hand)."""
    from lbi.envs.base import COMMON_ACTIONS

    if env in ("web", "trac"):
        from lbi.envs.web.actions import WEB_ACTIONS

        return WEB_ACTIONS
    if env == "browsergym":
        from lbi.envs.browsergym.bridge import action_specs

        return {**action_specs(), **COMMON_ACTIONS}
    from lbi.envs import env_spec

    module = __import__(env_spec(env).factory.__module__, fromlist=["_"])
    for value in vars(module).values():  # the env class's own actions (sql, shell, repo)
        if (
            isinstance(value, type)
            and getattr(value, "name", None) == env
            and isinstance(actions := getattr(value, "actions", None), dict)
        ):
            return actions
    return dict(COMMON_ACTIONS)


def call_parts(action: str, specs: dict[str, ActionSpec]) -> tuple[str, dict[str, Any]]:
    """``click('12')`` → ``("click", {"bid": "12"})``; arguments named by the spec (``arg0``... otherwise); an action
    that is not one call becomes ``("raw", {"text": action})``."""
    try:
        node = ast.parse(action.strip(), mode="eval").body
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
            raise ValueError
        args = [ast.literal_eval(a) for a in node.args]
        kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg}
    except (SyntaxError, ValueError):
        return "raw", {"text": action}
    spec = specs.get(node.func.id)
    names = [p[0] for p in spec.params] if spec else []
    named = {(names[i] if i < len(names) else f"arg{i}"): value for i, value in enumerate(args)}
    return node.func.id, {**named, **kwargs}


def agentlab_records(
    examples: list[dict[str, Any]], steps_of: dict[int, list[dict[str, Any]]]
) -> Iterator[dict[str, Any]]:
    for ex in examples:
        steps = steps_of[ex["id"]]
        for k, step in enumerate(steps):
            last = k == len(steps) - 1
            before = steps[k - 1] if k else None
            yield {
                "goal": ex["instruction"],
                "step": k,
                "obs": {
                    "goal": ex["instruction"],
                    "axtree_txt": step["observation"] or "",
                    "url": step["url"],
                    "last_action": before["action"] if before else "",
                    "last_action_error": (before["error"] or "") if before else "",
                    "screenshot": step["screenshot"],
                },
                "action": step["action"] or "",
                "agent_info": {"think": step["reasoning"] or ""},
                "reward": 1.0 if last else 0.0,
                "terminated": last,
                "truncated": False,
                "example_id": ex["id"],
                "trajectory_id": ex["trajectory_id"],
                "env": ex["env"],
            }


def _observation(step: dict[str, Any], call_id: str | None) -> dict[str, Any]:
    link = {"tool_call_id": call_id} if call_id else {}
    if step["url"]:
        image = (
            {"class_": "image_observation", "content": step["screenshot"], "source": "environment"}
            if step["screenshot"]
            else None
        )
        return {
            "class_": "web_observation",
            "html": None,
            "axtree": step["observation"] or "",
            "url": step["url"],
            "image_observation": image,
            "viewport_size": None,
            **link,
        }
    return {"class_": "text_observation", "content": step["observation"] or "", "source": "system", **link}


def adp_records(examples: list[dict[str, Any]], steps_of: dict[int, list[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
    specs: dict[str, dict[str, ActionSpec]] = {}
    for ex in examples:
        env_specs = specs.setdefault(ex["env"], _specs(ex["env"]))
        steps = steps_of[ex["id"]]
        content: list[dict[str, Any]] = [{"class_": "text_observation", "content": ex["instruction"], "source": "user"}]
        call_id: str | None = None
        for k, step in enumerate(steps):
            content.append(_observation(step, call_id))
            function, kwargs = call_parts(step["action"] or "", env_specs)
            thought = step["reasoning"] or None
            if function in MESSAGE_ACTIONS:
                content.append(
                    {
                        "class_": "message_action",
                        "content": str(next(iter(kwargs.values()), "")),
                        "description": thought,
                    }
                )
                break
            call_id = f"call_{k}" if k < len(steps) - 1 else None  # linked to the observation it led to
            content.append(
                {
                    "class_": "api_action",
                    "function": function,
                    "kwargs": kwargs,
                    "description": thought,
                    **({"tool_call_id": call_id} if call_id else {}),
                }
            )
        yield {
            "schema_version": ADP_VERSION,
            "id": f"lbi-example-{ex['id']}",
            "content": content,
            "details": {
                "source": "lbi (Learn-by-interact)",
                "env": ex["env"],
                "example_id": ex["id"],
                "trajectory_id": ex["trajectory_id"],
                "span": [ex["span_start"], ex["span_end"]],
                "backward_mode": ex["mode"],
                "rollout_policy": ex["policy"],
            },
        }
