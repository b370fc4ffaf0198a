"""`lbi ...`: the command line. Same functions as the pages; errors print one clear line."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from lbi import local_llm
from lbi.cli_synth import ProjectOpt
from lbi.config import Config, ConfigError, load_config
from lbi.errors import ModelError
from lbi.project import Project, init_project, open_project
from lbi.store import StoreError

app = typer.Typer(help="lbi: turn an environment's documentation into agent training data.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
llm_app = typer.Typer(help="The model layer and the embedded local model.", no_args_is_help=True)
app.add_typer(llm_app, name="llm")
console = Console()
err = Console(stderr=True, soft_wrap=True)



def _project(path: Path) -> Project:
    return open_project(path)


def _config_or_default(path: Path) -> Config:
    try:
        return load_config(path)
    except ConfigError:
        if (path / "lbi.toml").exists():
            raise
        return Config()


@app.command()
def init(directory: Annotated[Path, typer.Argument(help="Directory to create the project in.")],
         demo: Annotated[bool, typer.Option(help="The bundled Trac demo: its user guide and held-out tasks.")] = False,
         model: Annotated[str, typer.Option(help="Default model string for every role.")] = "",
         force: Annotated[bool, typer.Option(help="Rewrite lbi.toml if it exists.")] = False) -> None:
    """Create a project directory with a documented lbi.toml and an empty store (idempotent)."""
    if demo:
        from lbi import demo as demo_mod

        report = demo_mod.prepare(directory)
        project = report.project
        console.print(f"demo docs: {report.docs}; held-out tasks added: {report.tasks_added}")
    else:
        config = Config(project=directory.resolve().name)
        if model:
            config.models.default = model
        project = init_project(directory, config, overwrite=force)
    console.print(f"project [bold]{project.config.project}[/] at {directory} "
                  f"(store schema v{project.store.version}, default model {project.config.models.default})")


@app.command()
def status(project: ProjectOpt = Path(".")) -> None:
    """Counts per table, the funnel and the last runs."""
    from lbi import queries

    proj = _project(project)
    table = Table(title=f"{proj.config.project} — {proj.store.path}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in proj.store.counts().items():
        table.add_row(name, str(count))
    console.print(table)
    funnel = queries.funnel(proj.store, proj.config.synth.judge_policy, len(proj.config.models.judges))
    console.print("funnel: " + " → ".join(f"{k} {v}" for k, v in funnel.items()))
    runs = queries.recent_runs(proj.store, 5)
    for run in runs:
        console.print(f"run {run['id']} {run['name']} [{run['kind']}] {run['status']} "
                      f"{run['progress_done']}/{run['progress_total']} {run['message'] or ''}")
    if not runs:
        console.print("no runs yet")


@llm_app.command("serve")
def llm_serve(project: ProjectOpt = Path("."),
              foreground: Annotated[bool, typer.Option(help="Stay attached; stop the server on Ctrl-C.")] = False
              ) -> None:
    """Start (or reuse) the embedded model server on 127.0.0.1."""
    cfg = _config_or_default(project).local_model
    state = local_llm.ensure_running(cfg)
    console.print(f"local model {state.model} at {state.url} (pid {state.pid}, {state.threads} threads)")
    if foreground:
        try:
            typer.echo("serving; Ctrl-C stops it")
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            local_llm.stop(cfg)


@llm_app.command("status")
def llm_status(project: ProjectOpt = Path(".")) -> None:
    """Is the embedded model server up?"""
    cfg = _config_or_default(project).local_model
    state = local_llm.status(cfg)
    console.print(json.dumps({"running": state.running, "url": state.url, "pid": state.pid,
                              "model": state.model, "threads": state.threads, "detail": state.detail}))
    raise typer.Exit(0 if state.running else 1)


@llm_app.command("stop")
def llm_stop(project: ProjectOpt = Path(".")) -> None:
    """Stop the embedded model server lbi started."""
    cfg = _config_or_default(project).local_model
    console.print("stopped" if local_llm.stop(cfg) else "was not running")


@llm_app.command("ask")
def llm_ask(prompt: Annotated[str, typer.Argument(help="What to ask.")],
            project: ProjectOpt = Path("."),
            role: Annotated[str, typer.Option(help="Role whose model answers.")] = "agent",
            model: Annotated[str, typer.Option(help="Model string (overrides the role's).")] = "",
            max_tokens: Annotated[int, typer.Option(help="Completion token limit.")] = 256,
            no_cache: Annotated[bool, typer.Option("--no-cache", help="Bypass the reply cache.")] = False) -> None:
    """Ask a model one question through lbi's model layer; prints the reply and tokens/s."""
    from lbi.llm import LLM

    if (project / "lbi.toml").exists():
        proj = _project(project)
        if no_cache:
            proj.config.llm.cache = False
        client = proj.llm()
    else:
        config = Config()
        config.llm.cache = False
        client = LLM(config)
    result = client.ask(prompt, role=role, model=model or None, max_tokens=max_tokens)
    typer.echo(result.text)
    hit = " \\[cache hit]" if result.cache_hit else ""
    err.print(f"[dim]{result.model}: {result.prompt_tokens} prompt + {result.completion_tokens} completion tokens "
              f"in {result.latency_ms / 1000:.2f}s ({result.tokens_per_s:.1f} tokens/s)"
              f"{hit}[/]")


def _mount_pipeline() -> None:
    from lbi import cli_synth

    app.add_typer(cli_synth.docs_app, name="docs")
    app.add_typer(cli_synth.tasks_app, name="tasks")
    app.command("rollout")(cli_synth.rollout_cmd)
    app.command("backward")(cli_synth.backward_cmd)
    app.command("filter")(cli_synth.filter_cmd)
    from lbi import cli_use

    app.command("index")(cli_use.index_cmd)
    app.command("retrieve")(cli_use.retrieve_cmd)
    app.command("eval")(cli_use.eval_cmd)
    app.command("export")(cli_use.export_cmd)


@app.command()
def synthesize(project: ProjectOpt = Path("."),
               chunks: Annotated[int, typer.Option(help="Doc chunks to generate tasks from.")] = 3,
               per_chunk: Annotated[int, typer.Option(help="Tasks per chunk.")] = 2,
               tasks: Annotated[int, typer.Option(help="Tasks to roll out with the llm policy.")] = 3,
               explore: Annotated[int, typer.Option(help="Exploration episodes.")] = 1,
               max_steps: Annotated[int, typer.Option(help="Step limit per rollout.")] = 5,
               concurrency: Annotated[int, typer.Option(help="Parallel rollout workers.")] = 1,
               mode: Annotated[str, typer.Option(help="Backward mode: per-span or batched (default: config).")
                               ] = "",
               max_span: Annotated[int, typer.Option(help="Longest span (0: no cap).")] = 4,
               name: Annotated[str, typer.Option(help="Prefix of the run names (re-use resumes).")] = "synth",
               background: Annotated[bool, typer.Option(help="Start as a background job and return.")] = False
               ) -> None:
    """Run every stage (docs → tasks → rollouts → backward → committee) and print the funnel and usage."""
    from lbi.cli_synth import progress_bar, usage_table
    from lbi.synth.pipeline import SynthSizes
    from lbi.synth.pipeline import synthesize as run_all

    proj = _project(project)
    if background:
        from lbi import jobs

        live = [r for r in proj.store.query("SELECT name, pid FROM runs WHERE name LIKE ? AND status = 'running'",
                                            (f"{name}-%",)) if jobs.is_alive(r["pid"])]
        if live:
            console.print(f"synthesis {name} is already running (pid {live[0]['pid']})")
            return
        args = ["synthesize", "--chunks", str(chunks), "--per-chunk", str(per_chunk), "--tasks", str(tasks),
                "--explore", str(explore), "--max-steps", str(max_steps), "--concurrency", str(concurrency),
                "--mode", mode, "--max-span", str(max_span), "--name", name]
        job = jobs.start(proj.dir, args, name)
        console.print(f"synthesis running in the background (pid {job.pid}); log: {job.log}")
        return
    mode = mode or proj.config.synth.backward_mode
    sizes = SynthSizes(chunks=chunks, per_chunk=per_chunk, tasks=tasks, explore=explore, max_steps=max_steps,
                       concurrency=concurrency, mode=mode, max_span=max_span)
    report = run_all(proj, sizes, progress_bar, name=name)
    console.print("funnel: " + " → ".join(f"{k} {v}" for k, v in report.funnel.items()))
    console.print(usage_table(proj))


def _mount_optional() -> None:
    """Sub-apps of other modules (environments, pipeline) join here when present."""
    try:
        from lbi.envs.cli import app as env_app
    except ImportError as exc:
        if exc.name is None or not exc.name.startswith("lbi.envs"):
            raise
        return
    app.add_typer(env_app, name="env")


_mount_pipeline()
_mount_optional()


def _user_errors() -> tuple[type[Exception], ...]:
    from lbi.docs import DocsError
    from lbi.envs import EnvError
    from lbi.tasks import TaskFileError

    return (DocsError, EnvError, TaskFileError)


def main() -> None:
    """Console entry point: known failures print one line naming what to fix, exit code 2."""
    try:
        app()
    except (ConfigError, StoreError, ModelError, local_llm.LocalModelError, *_user_errors()) as exc:
        err.print("[bold red]error:[/] ", end="")
        err.print(str(exc), markup=False, highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
