"""How often the embedded model's agent steps are valid actions, with and without the action grammar.

For each environment (`sql` on the seeded Trac database, `trac` the web demo), the agent (`LLMPolicy`, the
embedded model, cache off) runs the first `--tasks` held-out tasks for `--steps` steps each, once with the
reply's `action` held to the environment's action pattern (`lbi.envs.actions.action_pattern`, which
llama.cpp's constrained decoding follows) and once without. A step is valid when the model's reply parsed
and its action parses in the environment (`env.parse`), whatever the action then does. Also: act-call
latency and prompt tokens per step.

    .venv/bin/python bench/action_validity.py                  # sql and trac, 6 tasks x 3 steps per arm
    .venv/bin/python bench/action_validity.py --envs sql --tasks 20
"""

from __future__ import annotations

import argparse
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

DESCRIPTIONS = {"sql": "The SQLite database of a Trac issue tracker: tickets, components, milestones, versions, "
                       "wiki pages, read-only.", "trac": DESCRIPTION}


class Tally(Recorder):
    """Counts the steps whose action parses in the environment, and how long each act call took."""

    def __init__(self, env: Any) -> None:
        self.env = env
        self.steps: list[dict[str, Any]] = []

    def step(self, index: int, obs: Observation, decision: Decision, after: Observation, seconds: float) -> None:
        try:
            self.env.parse(decision.action)
            valid = decision.error is None
        except ActionParseError:
            valid = False
        self.steps.append({"valid": valid, "action": decision.action[:120], "seconds": seconds,
                           "error": (decision.error or "")[:160]})


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
    calls, prompt = (a - b for a, b in zip(project.store.query(
        "SELECT COUNT(*), COALESCE(SUM(prompt_tokens), 0) FROM llm_calls")[0], calls_before, strict=True))
    seconds = [s["seconds"] for s in tally.steps]
    valid = sum(s["valid"] for s in tally.steps)
    return {"env": env_name, "grammar": "on" if constrain else "off", "tasks": len(tasks), "steps": len(tally.steps),
            "valid": valid, "valid_share": valid / max(len(tally.steps), 1), "model_calls": calls,
            "prompt_tokens_per_call": prompt / max(calls, 1), "step_s_p50": percentile(seconds, 0.5),
            "step_s_p95": percentile(seconds, 0.95), "wall_s": time.perf_counter() - started,
            "invalid_examples": [s for s in tally.steps if not s["valid"]][:5]}


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
    columns = ["env", "grammar", "tasks", "steps", "valid", "valid_share", "model_calls", "prompt_tokens_per_call",
               "step_s_p50", "step_s_p95", "wall_s"]
    print(table(rows, columns, title=f"action validity, {args.model}"))
    on = [r for r in rows if r["grammar"] == "on"]
    share = sum(r["valid"] for r in on) / max(sum(r["steps"] for r in on), 1)
    print(f"goal: >= 95% of steps valid with the grammar: {'met' if share >= 0.95 else 'not met'} ({share:.1%})")
    path = write_result("action_validity", {"args": vars(args), "machine_start": start_machine,
                                            "machine_end": machine(), "rows": rows})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
