"""The synthesis stages: `lbi rollout`, `lbi backward`, `lbi filter`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lbi.cli.common import ProjectOpt, RayOpt, console, progress_bar
from lbi.cluster.session import use_ray
from lbi.config import Config
from lbi.project import open_project
from lbi.store import committee, read
from lbi.synth import trust


def rollout_cmd(
    project: ProjectOpt = Path("."),
    run: Annotated[str, typer.Option(help="Run name; re-running a name resumes it.")] = "rollout",
    policy: Annotated[str, typer.Option(help="llm or explore (default: config)")] = "",
    episodes: Annotated[int, typer.Option(help="Explore episodes.")] = 4,
    limit: Annotated[int, typer.Option(help="At most this many tasks (0: all).")] = 0,
    concurrency: Annotated[int, typer.Option(help="Parallel workers (0: config).")] = 0,
    max_steps: Annotated[int, typer.Option(help="Step limit (0: config).")] = 0,
    explore_from: Annotated[
        str, typer.Option(help="Where explore walks start: env (its own start) or tasks (each synthetic task's start).")
    ] = "env",
    ray: RayOpt = None,
) -> None:
    """Roll out the policy in the environment, recording every step (resumable, parallel)."""
    from lbi.synth.rollout import rollout

    proj = open_project(project)
    use_ray(proj.config, ray)
    with progress_bar(f"rollout {run}") as progress:
        report = rollout(
            proj,
            run,
            policy=policy or None,
            episodes=episodes,
            limit=limit or None,
            concurrency=concurrency or None,
            max_steps=max_steps or None,
            progress=progress,
            explore_from=explore_from,
        )
    console.print(
        f"{report.planned} planned, {report.skipped} already finished; now {report.done} done, "
        f"{report.failed} failed, {report.steps} steps in {report.seconds:.1f}s"
    )


def _count(n: int, one: str, many: str = "") -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def backward_cmd(
    project: ProjectOpt = Path("."),
    mode: Annotated[
        str, typer.Option(help="per-span, batched, hindsight or goal (the last two need no model; default: config)")
    ] = "",
    max_span: Annotated[int, typer.Option(help="Longest span (-1: config, 0: no cap).")] = -1,
    trajectory: Annotated[
        list[int] | None, typer.Option(help="Only this trajectory (repeatable; default: every finished one).")
    ] = None,
    ray: RayOpt = None,
) -> None:
    """Backward-construct examples for every finished trajectory (resumable)."""
    from lbi.synth.backward import check_mode, construct

    proj = open_project(project)
    use_ray(proj.config, ray)
    checked = check_mode(mode) if mode else None
    with (
        proj.run(f"backward-{checked or proj.config.synth.backward_mode}", "backward") as run,
        progress_bar("backward construction") as bar,
    ):
        report = construct(
            proj,
            trajectory or None,
            mode=checked,
            max_span=None if max_span < 0 else max_span,
            run_id=run.id,
            progress=run.track(bar),
        )
        run.progress(report.trajectories, report.trajectories, f"{report.examples} examples from {report.calls} calls")
    console.print(
        f"{_count(report.trajectories, 'trajectory', 'trajectories')}, {report.spans} spans, "
        f"{_count(report.calls, 'call')} → {report.examples} new examples, {report.failed} failed"
    )


def filter_cmd(
    project: ProjectOpt = Path("."),
    policy: Annotated[str, typer.Option(help="strict, majority or relaxed (default: config)")] = "",
    trajectory: Annotated[
        list[int] | None,
        typer.Option(help="Only the examples of this trajectory (repeatable; default: every example)."),
    ] = None,
    ray: RayOpt = None,
) -> None:
    """Ask the committee about every example, find near-duplicates, and report what the policy keeps."""
    from lbi.synth.judge import judge_examples

    proj = open_project(project)
    use_ray(proj.config, ray)
    if policy:
        proj.config.synth.judge_policy = committee.check_policy(policy)
    ids = read.example_ids(proj.store, trajectory) if trajectory else None
    with proj.run("filter", "filter") as run, progress_bar("committee") as bar:
        report = judge_examples(proj, ids, run_id=run.id, progress=run.track(bar))
        run.progress(report.examples, report.examples, f"{report.kept} kept")
    kept = committee.kept_by_policy(proj.store, trust.voters(proj.config))
    console.print(
        f"{report.examples} examples, {report.verdicts} new verdicts, {report.failed} failed, "
        f"{report.duplicate_pairs} near-duplicate pairs; kept: " + ", ".join(f"{p} {n}" for p, n in kept.items())
    )
    print_trust(proj.config)


def print_trust(config: Config) -> None:
    """How far each judge can be trusted: its precision and recall on the judge benchmark (`lbi.synth.trust`)."""
    quality = trust.load()
    if quality is None:
        console.print(f"judges not measured: {trust.REGENERATE} measures them", markup=False)
        return
    judges, whole = trust.for_config(config, quality=quality)
    measured = f"{trust.QUALITY_PATH.name}, commit {quality.commit}, {quality.at[:10]}"
    console.print(f"how far the judges can be trusted (the judge benchmark: {measured}):", markup=False)
    for t in ([whole] if whole else []) + judges:
        console.print(f"  {t.judge}: {t.short()}", markup=False, highlight=False)
    console.print(f"who decides (synth.judge_trust): {trust.voting(config, quality).line()}", markup=False)
