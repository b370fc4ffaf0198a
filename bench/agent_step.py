"""How long an agent step takes with the embedded model, and how long its prompt is (issue 14).

Two parts, on the Trac web demo and the SQL demo:

* **prompts** (`--part prompts`, no model): every held-out task's reference solution is replayed and, before each
  step, the agent's prompt is built exactly as `LLMPolicy.act` builds it (a stand-in model takes the messages
  and returns the reference's action); its tokens are counted with the embedded model's tokenizer. Also: is
  every element a reference acts on (`click('submit')`) in the observation the agent is shown?
* **latency** (`--part latency`): the agent (`LLMPolicy`, the embedded model, reply cache off) runs the first
  `--tasks` held-out tasks for `--steps` steps, once per arm (llama.cpp threads × prompt cache); per act call
  (every one, a failed call too — the agent waited for it; `failed` counts them): wall latency, prompt and reply
  tokens, and llama.cpp's own split into prompt evaluation and generation (read from the server log,
  `local_model.log_timings`), where a reused prefix shows as fewer prompt tokens evaluated.

Run it from a checkout of lbi (or with `PYTHONPATH=<another checkout>` for a before/after; `--label` names the
row):

    .venv/bin/python bench/agent_step.py                        # both parts, trac and sql
    .venv/bin/python bench/agent_step.py --part latency --arms 1:on,1:off,2:on --tasks 4 --steps 3
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from common import BENCH_PORT, bench_config, local_model, machine, percentile, table, write_result  # noqa: E402

from lbi.agent import Agent, Recorder  # noqa: E402
from lbi.agent.loop import History  # noqa: E402
from lbi.agent.policies import LLMPolicy  # noqa: E402
from lbi.demos import demo_tasks, env_options  # noqa: E402
from lbi.demos.trac import DESCRIPTION  # noqa: E402
from lbi.envs import make_env  # noqa: E402
from lbi.envs.base import BaseEnv  # noqa: E402
from lbi.models import local_llm  # noqa: E402
from lbi.models.local import chat_prompt  # noqa: E402
from lbi.observations import BID_ACTION  # noqa: E402
from lbi.project import init_project  # noqa: E402

DESCRIPTIONS = {
    "sql": "The SQLite database of a Trac issue tracker: tickets, components, milestones, versions, "
    "wiki pages, read-only. Answer questions by querying it, then stop with the answer.",
    "trac": DESCRIPTION,
}
TIMING = re.compile(
    r"prompt eval time =\s*([\d.]+) ms /\s*(\d+) tokens.*?\n"
    r".*?eval time =\s*([\d.]+) ms /\s*(\d+) runs",
    re.S,
)


class Captured:
    """A stand-in model: keeps the messages of each call and replies with the action it is told to."""

    def __init__(self) -> None:
        self.messages: list[list[dict[str, str]]] = []
        self.action = "noop()"

    def complete(self, messages: list[dict[str, str]], **_: Any) -> Any:
        self.messages.append(messages)
        reply = type("Reply", (), {"action": self.action, "reasoning": "reference"})()
        return type("Completion", (), {"parsed": reply})()


def prompts_part(env_name: str, url: str, tmp: Path) -> dict[str, Any]:
    tasks = demo_tasks(env_name)
    llm = Captured()
    policy = LLMPolicy(llm, env_description=DESCRIPTIONS[env_name])
    tokens, system_tokens, missing, acted = [], [], [], 0
    with make_env(env_name, screenshot_dir=str(tmp / "shots"), **env_options(env_name)) as env:
        actions = env.actions if isinstance(env, BaseEnv) else {}  # (every built-in env is a BaseEnv)
        for task in tasks:
            obs, history = env.reset(task), History()
            for action in task.reference:
                llm.action = action
                decision = policy.act(env, task, obs, history)
                messages = llm.messages[-1]
                tokens.append(local_llm.count_tokens(url, chat_prompt(messages)))
                system_tokens.append(local_llm.count_tokens(url, messages[0]["content"]))
                m = BID_ACTION.match(action)
                spec = actions.get(m.group(1)) if m else None
                if m and spec is not None and spec.params and spec.params[0][0] == "bid":
                    acted += 1
                    if f"[{m.group(2)}]" not in (decision.observation or messages[-1]["content"]):
                        missing.append(f"{task.id}: {action}")
                obs = env.step(action)
                history.add(action, obs.last_action_error)
                if obs.done:
                    break
    return {
        "env": env_name,
        "prompts": len(tokens),
        "tokens_p50": percentile(tokens, 0.5),
        "tokens_p95": percentile(tokens, 0.95),
        "tokens_max": max(tokens),
        "system_tokens": system_tokens[0],
        "acted_on": acted,
        "not_shown": len(missing),
        "not_shown_examples": missing[:10],
    }


class Timed(Recorder):
    def __init__(self) -> None:
        self.seconds: list[float] = []

    def step(self, index: int, obs: Any, decision: Any, after: Any, seconds: float) -> None:
        self.seconds.append(seconds)


def server_timings(log: Path, offset: int) -> list[dict[str, float]]:
    """llama.cpp's per-call timings written to the server log after byte `offset`."""
    text = log.read_bytes()[offset:].decode("utf-8", errors="replace")
    return [
        {"prompt_ms": float(m[0]), "prompt_tokens_evaluated": int(m[1]), "gen_ms": float(m[2]), "gen_tokens": int(m[3])}
        for m in TIMING.findall(text)
    ]


def latency_part(env_name: str, arm: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    threads, cache = arm.split(":")
    config = bench_config(args.model, port=args.port, threads=int(threads))
    fields = type(config.local_model).model_fields
    if "prompt_cache" in fields:  # an older checkout (PYTHONPATH) has neither: no cache, no timings
        config.local_model.log_timings = True
        config.local_model.prompt_cache = cache == "on"
    elif cache == "on":
        raise SystemExit("this checkout of lbi has no prompt cache: measure it with arms THREADS:off")
    config.env.name, config.env.options = env_name, env_options(env_name)
    config.env.description = DESCRIPTIONS[env_name]
    project = init_project(tmp / f"{env_name}-{threads}-{cache}", config)
    local_llm.stop(config.local_model)  # each arm starts its own server with its settings
    tasks = demo_tasks(env_name)[: args.tasks]
    with local_model(config):
        log = local_llm.logfile(config.local_model)
        offset = log.stat().st_size if log.exists() else 0
        policy = LLMPolicy(project.llm(), env_description=DESCRIPTIONS[env_name])
        timed = Timed()
        started = time.perf_counter()
        with make_env(env_name, screenshot_dir=str(project.screenshots_dir), **env_options(env_name)) as env:
            for task in tasks:
                Agent(policy, env, timed, max_steps=args.steps).run(task)
        wall = time.perf_counter() - started
        timings = server_timings(log, offset)
    # every act call, failed ones too (a reply that did not parse, a timeout): the agent waited for them all
    calls = [
        dict(r)
        for r in project.store.query(
            "SELECT latency_ms, prompt_tokens, completion_tokens, ok FROM llm_calls WHERE purpose = 'act'"
        )
    ]
    latency = [c["latency_ms"] / 1000 for c in calls]
    return {
        "env": env_name,
        "arm": arm,
        "calls": len(calls),
        "failed": sum(not c["ok"] for c in calls),
        "act_s_p50": percentile(latency, 0.5),
        "act_s_p95": percentile(latency, 0.95),
        "prompt_tokens_p50": percentile([c["prompt_tokens"] for c in calls], 0.5),
        "reply_tokens_p50": percentile([c["completion_tokens"] for c in calls], 0.5),
        "evaluated_tokens_p50": percentile([t["prompt_tokens_evaluated"] for t in timings], 0.5),
        "prompt_eval_s_p50": percentile([t["prompt_ms"] / 1000 for t in timings], 0.5),
        "gen_s_p50": percentile([t["gen_ms"] / 1000 for t in timings], 0.5),
        "step_s_p50": percentile(timed.seconds, 0.5),
        "wall_s": wall,
        "load_end": machine()["loadavg"][0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["prompts", "latency", "both"], default="both")
    parser.add_argument("--envs", default="trac,sql")
    parser.add_argument("--arms", default="1:off,1:on,2:on", help="THREADS:CACHE pairs for the latency part")
    parser.add_argument("--tasks", type=int, default=4, help="held-out tasks per environment (latency)")
    parser.add_argument("--steps", type=int, default=3, help="steps per task (latency)")
    parser.add_argument("--model", default="local/smollm2")
    parser.add_argument("--port", type=int, default=BENCH_PORT)
    parser.add_argument("--label", default="", help="names this run in the result file (e.g. before, after)")
    args = parser.parse_args()
    envs = [e.strip() for e in args.envs.split(",") if e.strip()]
    start = machine()
    out: dict[str, Any] = {"args": vars(args), "machine_start": start}
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        if args.part in ("prompts", "both"):
            config = bench_config(args.model, port=args.port)
            with local_model(config):
                url = local_llm.base_url(config.local_model).removesuffix("/v1")
                out["prompts"] = [prompts_part(e, url, tmp) for e in envs]
            print(
                table(
                    out["prompts"],
                    [
                        "env",
                        "prompts",
                        "tokens_p50",
                        "tokens_p95",
                        "tokens_max",
                        "system_tokens",
                        "acted_on",
                        "not_shown",
                    ],
                    title=f"agent prompts {args.label}",
                )
            )
            for row in out["prompts"]:
                for miss in row["not_shown_examples"]:
                    print(f"  not in the prompt: {miss}")
        if args.part in ("latency", "both"):
            out["latency"] = [latency_part(e, arm, args, tmp) for e in envs for arm in args.arms.split(",")]
            print(
                table(
                    out["latency"],
                    [
                        "env",
                        "arm",
                        "calls",
                        "failed",
                        "act_s_p50",
                        "act_s_p95",
                        "prompt_tokens_p50",
                        "evaluated_tokens_p50",
                        "prompt_eval_s_p50",
                        "gen_s_p50",
                        "reply_tokens_p50",
                        "load_end",
                    ],
                    title=f"act calls {args.label} (arm = threads:prompt cache)",
                )
            )
    out["machine_end"] = machine()
    path = write_result(f"agent_step{'_' + args.label if args.label else ''}", out)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
