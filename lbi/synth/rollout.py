"""Rollouts: run a policy in the environment and record every step in the store.

A run is named; each of its trajectories has a resume key (`<run>/<task id>` or
`<run>/explore-<k>`). Trajectories commit one by one, so re-running a run skips the finished
ones and restarts any left unfinished by a killed process. With `concurrency > 1` the work is
shared by worker processes, each with its own environment (and its own browser and server);
the parent reports progress in the `runs` row (for the pages) and on a tqdm bar (for the CLI).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lbi.agent.policies import Decision, ExplorePolicy, History, LLMPolicy
from lbi.envs import EnvCrashed, EnvError, list_envs, make_env
from lbi.envs.base import Env, Observation
from lbi.errors import ModelAuthError, ModelError, UnknownModelError, check_choice
from lbi.procs import die_with_parent
from lbi.project import Project, open_project
from lbi.envs.tasks import CheckSpec, Task

Progress = Callable[[int, int], None]
Examples = Callable[[Env, str, Observation, History], str]
FATAL = (ModelAuthError, UnknownModelError)
POLICIES = ("llm", "explore")


@dataclass
class WorkItem:
    key: str
    policy: str
    task_id: str | None = None
    instruction: str | None = None
    spec: str = "{}"


@dataclass
class RolloutReport:
    planned: int = 0
    skipped: int = 0
    done: int = 0
    failed: int = 0
    steps: int = 0
    seconds: float = 0.0


@dataclass
class EpisodeResult:
    trajectory_id: int
    status: str
    steps: int
    final: Observation | None = None
    error: str | None = None


def task_from_row(row: dict[str, Any]) -> Task:
    """A Task for `env.reset` from a tasks row (held-out rows carry their full spec in spec_json)."""
    spec = json.loads(row.get("spec_json") or "{}")
    if spec.get("check"):
        return Task.model_validate({**spec, "id": row["id"], "instruction": row["instruction"], "env": row["env"]})
    return Task(id=row["id"], env=row["env"], instruction=row["instruction"], start=spec.get("start", {}),
                check=CheckSpec(kind="none"), split="synthetic")


def plan(project: Project, run_name: str, *, policy: str, task_ids: Sequence[str] | None = None,
         episodes: int = 0, limit: int | None = None) -> list[WorkItem]:
    """Work items of a run: one per synthetic task (llm policy) or `episodes` walks (explore)."""
    if policy == "explore":
        return [WorkItem(key=f"{run_name}/explore-{k}", policy="explore") for k in range(episodes)]
    sql = "SELECT id, instruction, spec_json FROM tasks WHERE split = 'synthetic' AND env = ?"
    rows = [dict(r) for r in project.store.query(sql + " ORDER BY created_at, id", (project.config.env.name,))]
    if task_ids is not None:
        wanted = set(task_ids)
        rows = [r for r in rows if r["id"] in wanted]
    items = [WorkItem(key=f"{run_name}/{r['id']}", policy="llm", task_id=r["id"], instruction=r["instruction"],
                      spec=r["spec_json"] or "{}") for r in rows]
    return items[:limit] if limit else items


def build_env(project: Project) -> Env:
    """The configured environment; screenshots go to the project's `screenshots/`."""
    cfg = project.config.env
    return make_env(cfg.name, **{"screenshot_dir": str(project.screenshots_dir), **cfg.options})


def build_policy(project: Project, name: str, seed: str, run_id: int | None) -> LLMPolicy | ExplorePolicy:
    llm = project.llm(run_id)
    describe = project.config.env.description
    if name == "explore":
        return ExplorePolicy(seed, llm=llm, env_description=describe)
    return LLMPolicy(llm, env_description=describe)


def run_episode(project: Project, env: Env, policy: LLMPolicy | ExplorePolicy, item: WorkItem, run_id: int | None,
                *, max_steps: int, examples: Examples | None = None, model: str | None = None) -> EpisodeResult:
    """One trajectory: reset, act until stop/crash/step limit, record every step and the end state."""
    store = project.store
    tid, state = store.begin_trajectory(
        item.key, run_id=run_id, task_id=item.task_id, instruction=item.instruction, policy=item.policy,
        env=project.config.env.name, model=model, config_json={"max_steps": max_steps})
    if state != "running":
        return EpisodeResult(tid, state, 0)
    task = task_from_row({"id": item.task_id or item.key, "instruction": item.instruction or "",
                          "env": project.config.env.name, "spec_json": item.spec})
    try:
        obs = env.reset(task, episode_id=f"traj-{tid}")
    except EnvCrashed as exc:
        store.finish_trajectory(tid, status="failed", error=f"environment did not start: {exc}")
        return EpisodeResult(tid, "failed", 0, error=str(exc))
    history = History()
    steps = 0
    for idx in range(max_steps):
        started = time.perf_counter()
        hints = examples(env, item.instruction or "", obs, history) if examples else ""
        decision: Decision = policy.act(env, item.instruction or "", obs, history, hints)
        after = env.step(decision.action)
        error = decision.error or after.last_action_error
        shot = after.info.get("action_screenshot") or obs.screenshot  # with the acted-on element boxed
        store.add_step(tid, idx, observation=obs.text, screenshot=project.relative(shot), action=decision.action,
                       reasoning=decision.reasoning, url=obs.url, state_signature=obs.state_signature,
                       error=error, latency_ms=(time.perf_counter() - started) * 1000)
        if decision.raw is not None:
            store.add_failure("act", decision.error or "", item=f"{tid}:{idx}", raw=decision.raw, run_id=run_id)
        history.add(decision.action, error)
        obs = after
        steps += 1
        if obs.done:
            break
    crashed = obs.info.get("crashed")
    final = {"observation": obs.text, "url": obs.url, "screenshot": project.relative(obs.screenshot)}
    status = "failed" if crashed else "done"
    store.finish_trajectory(tid, status=status, error=str(crashed) if crashed else None, answer=obs.answer,
                            final=final)
    return EpisodeResult(tid, status, steps, obs, str(crashed) if crashed else None)


def _work(project: Project, items: Sequence[WorkItem], run_id: int, max_steps: int,
          after_each: Callable[[], Any] | None = None) -> None:
    """Run items one after another in this process, recreating the environment after a crash."""
    env: Env | None = None
    model = project.config.models.for_role("agent")
    try:
        for item in items:
            if env is None:
                env = build_env(project)
            policy = build_policy(project, item.policy, item.key, run_id)
            try:
                result = run_episode(project, env, policy, item, run_id, max_steps=max_steps, model=model)
                if result.status == "failed":
                    env.close()
                    env = None
            except FATAL:
                raise
            except ModelError as exc:
                _fail_open(project, item, str(exc))
            if after_each:
                after_each()
    finally:
        if env is not None:
            env.close()


def _fail_open(project: Project, item: WorkItem, error: str) -> None:
    row = project.store.query("SELECT id FROM trajectories WHERE key = ?", (item.key,))
    if row:
        project.store.finish_trajectory(row[0][0], status="failed", error=error)


def _worker(project_dir: str, items: list[dict[str, Any]], run_id: int, max_steps: int) -> None:
    die_with_parent()  # a killed run leaves no worker behind to race its resumption
    project = open_project(Path(project_dir))
    _work(project, [WorkItem(**i) for i in items], run_id, max_steps)


def _finished(project: Project, keys: Sequence[str]) -> tuple[int, int, int]:
    rows = project.store.query(
        "SELECT status, COUNT(*) FROM trajectories WHERE run_id IS NOT NULL AND key IN (SELECT value FROM "
        "json_each(?)) GROUP BY status", (json.dumps(list(keys)),))
    counts = {r[0]: r[1] for r in rows}
    steps = project.store.query(
        "SELECT COUNT(*) FROM steps s JOIN trajectories t ON t.id = s.trajectory_id WHERE t.key IN "
        "(SELECT value FROM json_each(?)) AND t.status != 'running'", (json.dumps(list(keys)),))[0][0]
    return counts.get("done", 0), counts.get("failed", 0), steps


def rollout(project: Project, run_name: str, *, policy: str | None = None, task_ids: Sequence[str] | None = None,
            episodes: int = 0, limit: int | None = None, concurrency: int | None = None,
            max_steps: int | None = None, progress: Progress | None = None) -> RolloutReport:
    """Run (or resume) the rollouts of `run_name`; returns counts for this run."""
    cfg = project.config.synth
    policy = check_choice("rollout policy", policy or cfg.policy, POLICIES)
    check_choice("environment ([env] name in lbi.toml)", project.config.env.name, list_envs())
    max_steps = max_steps or cfg.max_steps
    workers = max(1, concurrency or cfg.concurrency)
    items = plan(project, run_name, policy=policy, task_ids=task_ids, episodes=episodes, limit=limit)
    config = {"policy": policy, "max_steps": max_steps, "concurrency": workers, "env": project.config.env.name,
              "model": project.config.models.for_role("agent")}
    run_id = project.store.start_run(run_name, "rollout", config, pid=os.getpid())
    keys = [i.key for i in items]
    before = sum(_finished(project, keys)[:2])
    todo = [i for i in items if not _is_finished(project, i.key)]
    report = RolloutReport(planned=len(items), skipped=before)
    project.store.update_run(run_id, done=before, total=len(items), message=f"{len(todo)} to go")
    started = time.perf_counter()
    try:
        if workers == 1 or len(todo) <= 1:
            _run_inline(project, todo, run_id, max_steps, keys, progress)
        else:
            _run_parallel(project, todo, run_id, max_steps, workers, keys, progress)
    except (*FATAL, EnvError) as exc:
        project.store.update_run(run_id, status="failed", message=str(exc))
        raise
    report.done, report.failed, report.steps = _finished(project, keys)
    report.seconds = time.perf_counter() - started
    project.store.update_run(run_id, done=report.done + report.failed, total=len(items), status="done",
                             message=f"{report.done} done, {report.failed} failed, {report.steps} steps")
    return report


def _is_finished(project: Project, key: str) -> bool:
    row = project.store.query("SELECT status FROM trajectories WHERE key = ?", (key,))
    return bool(row) and row[0][0] != "running"


def _tick(project: Project, run_id: int, keys: Sequence[str], progress: Progress | None) -> int:
    done, failed, _ = _finished(project, keys)
    project.store.update_run(run_id, done=done + failed, total=len(keys))
    if progress:
        progress(done + failed, len(keys))
    return done + failed


def _run_inline(project: Project, todo: Sequence[WorkItem], run_id: int, max_steps: int, keys: Sequence[str],
                progress: Progress | None) -> None:
    _work(project, todo, run_id, max_steps, after_each=lambda: _tick(project, run_id, keys, progress))
    _tick(project, run_id, keys, progress)


def _run_parallel(project: Project, todo: Sequence[WorkItem], run_id: int, max_steps: int, workers: int,
                  keys: Sequence[str], progress: Progress | None) -> None:
    ctx = mp.get_context("spawn")
    shares = [[asdict(i) for i in todo[w::workers]] for w in range(workers)]
    procs = [ctx.Process(target=_worker, args=(str(project.dir), share, run_id, max_steps), daemon=False)
             for share in shares if share]
    for proc in procs:
        proc.start()
    try:
        while any(p.is_alive() for p in procs):
            _tick(project, run_id, keys, progress)
            time.sleep(0.5)
    finally:
        for proc in procs:
            proc.join()
    _tick(project, run_id, keys, progress)
    bad = [p.exitcode for p in procs if p.exitcode]
    if bad:
        raise ModelError(f"{len(bad)} rollout worker(s) exited with errors (codes {bad}); see the run's log")
