"""The synthesis stages: `lbi rollout`, `lbi backward`, `lbi filter`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lbi.cli.common import ProjectOpt, console, progress_bar
from lbi.project import open_project
from lbi.store import queries


def rollout_cmd(project: ProjectOpt = Path("."),
                run: Annotated[str, typer.Option(help="Run name; re-running a name resumes it.")] = "rollout",
                policy: Annotated[str, typer.Option(help="llm or explore (default: config)")] = "",
                episodes: Annotated[int, typer.Option(help="Explore episodes.")] = 4,
                limit: Annotated[int, typer.Option(help="At most this many tasks (0: all).")] = 0,
                concurrency: Annotated[int, typer.Option(help="Parallel workers (0: config).")] = 0,
                max_steps: Annotated[int, typer.Option(help="Step limit (0: config).")] = 0) -> None:
    """Roll out the policy in the environment, recording every step (resumable, parallel)."""
    from lbi.synth.rollout import rollout

    proj = open_project(project)
    with progress_bar(f"rollout {run}") as progress:
        report = rollout(proj, run, policy=policy or None, episodes=episodes, limit=limit or None,
                         concurrency=concurrency or None, max_steps=max_steps or None, progress=progress)
    console.print(f"{report.planned} planned, {report.skipped} already finished; now {report.done} done, "
                  f"{report.failed} failed, {report.steps} steps in {report.seconds:.1f}s")


def backward_cmd(project: ProjectOpt = Path("."),
                 mode: Annotated[str, typer.Option(help="per-span or batched (default: config)")] = "",
                 max_span: Annotated[int, typer.Option(help="Longest span (-1: config, 0: no cap).")] = -1) -> None:
    """Backward-construct examples for every finished trajectory (resumable)."""
    from lbi.synth.backward import check_mode, construct

    proj = open_project(project)
    mode = check_mode(mode) if mode else ""
    run_id = proj.store.start_run(f"backward-{mode or proj.config.synth.backward_mode}", "backward")
    with progress_bar("backward construction") as progress:
        report = construct(proj, mode=mode or None, max_span=None if max_span < 0 else max_span, run_id=run_id,
                           progress=progress)
    proj.store.update_run(run_id, done=report.trajectories, total=report.trajectories, status="done",
                          message=f"{report.examples} examples from {report.calls} calls")
    console.print(f"{report.trajectories} trajectories, {report.spans} spans, {report.calls} calls → "
                  f"{report.examples} new examples, {report.failed} failed")


def filter_cmd(project: ProjectOpt = Path("."),
               policy: Annotated[str, typer.Option(help="strict, majority or relaxed (default: config)")] = "") -> None:
    """Ask the committee about every example, find near-duplicates, and report what the policy keeps."""
    from lbi.synth.judge import judge_examples

    proj = open_project(project)
    if policy:
        proj.config.synth.judge_policy = queries.check_policy(policy)  # type: ignore[assignment]
    run_id = proj.store.start_run("filter", "filter")
    with progress_bar("committee") as progress:
        report = judge_examples(proj, run_id=run_id, progress=progress)
    proj.store.update_run(run_id, done=report.examples, total=report.examples, status="done",
                          message=f"{report.kept} kept")
    judges = len(proj.config.models.judges)
    kept = {p: queries.kept_count(proj.store, p, judges) for p in queries.POLICIES}
    console.print(f"{report.examples} examples, {report.verdicts} new verdicts, {report.failed} failed, "
                  f"{report.duplicate_pairs} near-duplicate pairs; kept: "
                  + ", ".join(f"{p} {n}" for p, n in kept.items()))
