"""Project commands: `lbi init`, `lbi status`, `lbi synthesize`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from lbi.cli.common import ProjectOpt, RayOpt, console, progress_bar, usage_table
from lbi.cluster.session import use_ray
from lbi.config import CONFIG_NAME, Config, load_config
from lbi.errors import UserError
from lbi.project import init_project, open_project
from lbi.synth import trust


def init(
    directory: Annotated[Path, typer.Argument(help="Directory to create the project in.")],
    demo: Annotated[
        bool,
        typer.Option(
            help="A bundled demo: the Trac demo (its user guide and held-out tasks), "
            "or with --env repo the coding demo (semver, its docs and bug-fix "
            "tasks)."
        ),
    ] = False,
    env: Annotated[str, typer.Option(help="Environment to act in (see `lbi env list`).")] = "",
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            "-o",
            help="An environment option as key=value (repeatable), e.g. db=shop.db; see `lbi env list --options`.",
        ),
    ] = None,
    model: Annotated[str, typer.Option(help="Default model string for every role.")] = "",
    force: Annotated[bool, typer.Option(help="Rewrite lbi.toml if it exists.")] = False,
) -> None:
    """Create a project directory with a documented lbi.toml and an empty store (idempotent)."""
    from lbi.envs import env_spec

    if demo and env and env not in ("trac", "repo"):
        raise UserError(f"--demo is the Trac demo (or with --env repo the coding demo): it cannot act in --env {env}")
    if demo and env == "repo":
        if option:
            raise UserError("the coding demo sets its own options: drop --option")
        from lbi.demos import coding

        report = coding.prepare(directory)
        console.print(f"coding demo docs: {report.docs}; held-out tasks added: {report.tasks_added}")
        console.print(f"project [bold]{report.project.config.project}[/] at {directory} (env repo)")
        return
    name = env or ("trac" if demo else Config().env.name)
    options = env_spec(name).parse_strings(option or [])  # validated now, not at the first rollout
    if (env or option) and (directory / CONFIG_NAME).exists() and not force:
        have = load_config(directory).env
        if (have.name, have.options) != (name, options):
            raise UserError(
                f"{directory / CONFIG_NAME} exists with env {have.name} {have.options}: add --force "
                "to rewrite it with these --env/--option"
            )
    if demo:
        from lbi.demos import trac

        report = trac.prepare(directory, env_options=options)
        project = report.project
        console.print(f"demo docs: {report.docs}; held-out tasks added: {report.tasks_added}")
    else:
        config = Config(project=directory.resolve().name)
        config.env.name, config.env.options = name, options
        config.models.judges = env_spec(name).judges()
        if model:
            config.models.default = model
        project = init_project(directory, config, overwrite=force)
    console.print(
        f"project [bold]{project.config.project}[/] at {directory} "
        f"(store schema v{project.store.version}, default model {project.config.models.default}, "
        f"env {project.config.env.name})"
    )


def status(project: ProjectOpt = Path(".")) -> None:
    """Counts per table, the funnel and the last runs."""
    from lbi.store import read

    proj = open_project(project)
    table = Table(title=f"{proj.config.project} — {proj.store.path}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in proj.store.counts().items():
        table.add_row(name, str(count))
    console.print(table)
    funnel = read.funnel(proj.store, proj.config.synth.judge_policy, trust.voters(proj.config))
    console.print("funnel: " + " → ".join(f"{k} {v}" for k, v in funnel.items()))
    runs = read.recent_runs(proj.store, 5)
    for run in runs:
        console.print(
            f"run {run['id']} {run['name']} [{run['kind']}] {run['status']} "
            f"{run['progress_done']}/{run['progress_total']} {run['message'] or ''}"
        )
    if not runs:
        console.print("no runs yet")


def synthesize(
    project: ProjectOpt = Path("."),
    chunks: Annotated[int, typer.Option(help="Doc chunks to generate tasks from.")] = 3,
    per_chunk: Annotated[int, typer.Option(help="Tasks per chunk.")] = 2,
    tasks: Annotated[int, typer.Option(help="Tasks to roll out with the llm policy.")] = 3,
    explore: Annotated[int, typer.Option(help="Exploration episodes.")] = 1,
    max_steps: Annotated[int, typer.Option(help="Step limit per rollout.")] = 5,
    concurrency: Annotated[int, typer.Option(help="Parallel rollout workers.")] = 1,
    mode: Annotated[
        str, typer.Option(help="Backward mode: per-span, batched, hindsight or goal (default: config).")
    ] = "",
    max_span: Annotated[int, typer.Option(help="Longest span (0: no cap).")] = 4,
    name: Annotated[str, typer.Option(help="Prefix of the run names (re-use resumes).")] = "synth",
    background: Annotated[bool, typer.Option(help="Start as a background job and return.")] = False,
    ray: RayOpt = None,
) -> None:
    """Run every stage (docs → explore rollouts → backward → committee, then tasks → llm rollouts → backward →
    committee) and print the funnel and usage."""
    from lbi.synth.pipeline import SynthSizes
    from lbi.synth.pipeline import synthesize as run_all

    proj = open_project(project)
    use_ray(proj.config, ray)
    if background:
        from lbi import jobs
        from lbi.store import read

        if live := read.active_runs(proj.store, f"{name}-"):
            console.print(f"synthesis {name} is already running (run {live[0]['name']})")
            return
        args = [
            "synthesize",
            "--chunks",
            str(chunks),
            "--per-chunk",
            str(per_chunk),
            "--tasks",
            str(tasks),
            "--explore",
            str(explore),
            "--max-steps",
            str(max_steps),
            "--concurrency",
            str(concurrency),
            "--mode",
            mode,
            "--max-span",
            str(max_span),
            "--name",
            name,
            *(["--ray", ray] if ray else []),
        ]
        job = jobs.start(proj.dir, args, name)
        console.print(f"synthesis running in the background (pid {job.pid}); log: {job.log}")
        return
    mode = mode or proj.config.synth.backward_mode
    sizes = SynthSizes(
        chunks=chunks,
        per_chunk=per_chunk,
        tasks=tasks,
        explore=explore,
        max_steps=max_steps,
        concurrency=concurrency,
        mode=mode,
        max_span=max_span,
    )
    report = run_all(proj, sizes, progress_bar, name=name)
    console.print("funnel: " + " → ".join(f"{k} {v}" for k, v in report.funnel.items()))
    console.print(usage_table(proj))
