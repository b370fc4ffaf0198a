"""How often the embedded model's agent steps are valid actions, with and without the action grammar.

For each environment (`sql` on the seeded Trac database, `trac` the web demo), the agent (`LLMPolicy`, the
embedded model, cache off) runs the first `--tasks` held-out tasks for `--steps` steps each, once with the
reply's `action` held to the environment's action pattern (`lbi.envs.actions.action_pattern`, which
llama.cpp's constrained decoding follows) and once without. Per step: `parsed` (the reply parsed and its action
parses in the environment, `env.parse` — which the grammar guarantees, so it says little) and `carried_out` (the
environment ran it without an error, `last_action_error`, and an action on an element named an element of the
observation the agent was shown): the measure of the goal. Also: act-call latency and prompt tokens per step.

    .venv/bin/python bench/action_validity.py                  # sql and trac, 6 tasks x 3 steps per arm
    .venv/bin/python bench/action_validity.py --envs sql --tasks 20
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from common import BENCH_PORT, bench_config, local_model, machine, percentile, table, write_result  # noqa: E402

from lbi.agent import Agent, Decision, Recorder  # noqa: E402
from lbi.agent.policies import LLMPolicy  # noqa: E402
from lbi.demos import demo_tasks, env_options  # noqa: E402
from lbi.demos.trac import DESCRIPTION  # noqa: E402
from lbi.envs import ActionParseError, Observation, make_env  # noqa: E402
from lbi.envs.tasks import Task  # noqa: E402
from lbi.project import init_project  # noqa: E402

DESCRIPTIONS = {
    "sql": "The SQLite database of a Trac issue tracker: tickets, components, milestones, versions, "
    "wiki pages, read-only.",
    "trac": DESCRIPTION,
}


class Tally(Recorder):
    """Per step: does the action parse (`parsed`, which the grammar guarantees), and did the environment carry it
    out (`carried_out`: the model's reply was usable, the step came back without `last_action_error`, and an
    action on an element named one in the observation the agent was shown); how long the act call took."""

    def __init__(self, env: Any) -> None:
        self.env = env
        self.steps: list[dict[str, Any]] = []

    def step(self, index: int, obs: Observation, decision: Decision, after: Observation, seconds: float) -> None:
        try:
            action = self.env.parse(decision.action)
            parsed = decision.error is None
        except ActionParseError:
            action, parsed = None, False
        bid = action.bid if action is not None else None
        exists = bid is None or re.search(rf"\[{re.escape(bid)}\]", obs.text or "") is not None
        carried_out = parsed and exists and after.last_action_error is None
        kind = (
            "none"
            if action is None
            else "stop"
            if action.name in ("stop", "send_msg_to_user")
            else "element"
            if bid is not None
            else "other"
        )
        self.steps.append(
            {
                "parsed": parsed,
                "carried_out": carried_out,
                "kind": kind,
                "element_exists": exists,
                "action": decision.action[:120],
                "seconds": seconds,
                "error": (decision.error or after.last_action_error or "")[:160],
            }
        )


def run_arm(project: Any, env_name: str, tasks: list[Task], steps: int, constrain: bool) -> dict[str, Any]:
    llm = project.llm()
    policy = LLMPolicy(llm, env_description=project.config.env.description, constrain=constrain)
    options = {"screenshot_dir": str(project.screenshots_dir), **env_options(env_name)}
    started = time.perf_counter()
    calls_before = project.store.query("SELECT COUNT(*), COALESCE(SUM(prompt_tokens), 0) FROM llm_calls")[0]
    with make_env(env_name, **options) as env:
        tally = Tally(env)
        for task in tasks:
            episode = Agent(policy, env, tally, max_steps=steps).run(task)
            if episode.status != "done":
                print(f"  {task.id}: {episode.status} {episode.error}", flush=True)
    calls, prompt = (
        a - b
        for a, b in zip(
            project.store.query("SELECT COUNT(*), COALESCE(SUM(prompt_tokens), 0) FROM llm_calls")[0],
            calls_before,
            strict=True,
        )
    )
    seconds = [s["seconds"] for s in tally.steps]
    n = max(len(tally.steps), 1)
    parsed = sum(s["parsed"] for s in tally.steps)
    done = sum(s["carried_out"] for s in tally.steps)
    kinds = {k: sum(s["kind"] == k for s in tally.steps) for k in ("element", "other", "stop", "none")}
    return {
        "env": env_name,
        "grammar": "on" if constrain else "off",
        "tasks": len(tasks),
        "steps": len(tally.steps),
        "parsed": parsed,
        "parsed_share": parsed / n,
        "carried_out": done,
        "carried_out_share": done / n,
        "kinds": " ".join(f"{k} {v}" for k, v in kinds.items() if v),
        "model_calls": calls,
        "prompt_tokens_per_call": prompt / max(calls, 1),
        "step_s_p50": percentile(seconds, 0.5),
        "step_s_p95": percentile(seconds, 0.95),
        "wall_s": time.perf_counter() - started,
        "not_carried_out": [s for s in tally.steps if not s["carried_out"]][:8],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", default="sql,trac")
    parser.add_argument("--tasks", type=int, default=6, help="held-out tasks per environment")
    parser.add_argument("--steps", type=int, default=3, help="steps per task")
    parser.add_argument("--model", default="local/smollm2")
    parser.add_argument("--port", type=int, default=BENCH_PORT)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    rows = []
    start_machine = machine()
    with tempfile.TemporaryDirectory() as tmp:
        for env_name in [e.strip() for e in args.envs.split(",") if e.strip()]:
            config = bench_config(args.model, port=args.port, threads=args.threads)
            config.env.name, config.env.options = env_name, env_options(env_name)
            config.env.description = DESCRIPTIONS.get(env_name, DESCRIPTION)
            project = init_project(Path(tmp) / env_name, config)
            tasks = demo_tasks(env_name)[: args.tasks]
            with local_model(config):
                for constrain in (False, True):
                    print(f"{env_name}: grammar {'on' if constrain else 'off'}, {len(tasks)} tasks", flush=True)
                    rows.append(run_arm(project, env_name, tasks, args.steps, constrain))
    columns = [
        "env",
        "grammar",
        "tasks",
        "steps",
        "parsed_share",
        "carried_out",
        "carried_out_share",
        "kinds",
        "model_calls",
        "prompt_tokens_per_call",
        "step_s_p50",
        "step_s_p95",
        "wall_s",
    ]
    print(table(rows, columns, title=f"action validity, {args.model}"))
    on = [r for r in rows if r["grammar"] == "on"]
    share = sum(r["carried_out"] for r in on) / max(sum(r["steps"] for r in on), 1)
    print(
        f"goal: >= 95% of steps carried out by the environment with the grammar: "
        f"{'met' if share >= 0.95 else 'not met'} ({share:.1%})"
    )
    for r in rows:
        for s in r["not_carried_out"][:3]:
            print(f"  {r['env']} grammar {r['grammar']}: {s['action']!r}: {s['error'] or 'no such element'}")
    path = write_result(
        "action_validity", {"args": vars(args), "machine_start": start_machine, "machine_end": machine(), "rows": rows}
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
