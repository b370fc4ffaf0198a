"""``lbi env ...``: list and try environments, run the Trac demo, verify task files."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from lbi.envs import EnvError, env_spec, list_envs

app = typer.Typer(help="Environments: list, try, the Trac demo, task checks.", no_args_is_help=True)
demo_app = typer.Typer(help="The bundled Trac demo (start/stop/status/build).", no_args_is_help=True)
app.add_typer(demo_app, name="demo")

DemoDir = Annotated[
    Path | None, typer.Option(help="Where the pristine/live Trac environments live (default: ./demo or $LBI_DEMO_DIR).")
]
OptionList = Annotated[
    list[str] | None,
    typer.Option(
        "--option", "-o", help="An environment option as key=value (repeatable); see `lbi env list --options`."
    ),
]


@app.command("list")
def list_cmd(options: Annotated[bool, typer.Option("--options", help="Also list each env's options.")] = False) -> None:
    """List the registered environments."""
    for name in list_envs():
        spec = env_spec(name)
        typer.echo(f"{name:8} {spec.description}")
        if options:
            for option, about in spec.option_fields().items():
                typer.echo(f"    {option}: {about}")


@demo_app.command("build")
def demo_build(demo_dir: DemoDir = None, rebuild: bool = False) -> None:
    """Build (or rebuild) the seeded pristine Trac environment."""
    from lbi.envs.web.trac_server import ensure_pristine

    start = time.perf_counter()
    path = ensure_pristine(demo_dir, rebuild=rebuild)
    typer.echo(f"pristine Trac environment: {path} ({time.perf_counter() - start:.1f}s)")


@demo_app.command("start")
def demo_start(demo_dir: DemoDir = None, port: Annotated[int, typer.Option(help="0 = a free port")] = 0) -> None:
    """Start the Trac demo in the background (stop it with `demo stop`)."""
    from lbi.envs.web.trac_server import TracDemo

    running = TracDemo.attach(demo_dir)
    if running is not None:
        typer.echo(f"already running: {running.base_url} (pid {running.pid})")
        return
    demo = TracDemo(demo_dir, port=port or None).start(detach=True)
    typer.echo(f"Trac demo running at {demo.base_url} (pid {demo.pid}, env {demo.env_dir})")


@demo_app.command("stop")
def demo_stop(demo_dir: DemoDir = None) -> None:
    """Stop the background Trac demo."""
    from lbi.envs.web.trac_server import TracDemo

    demo = TracDemo.attach(demo_dir)
    if demo is None:
        typer.echo("no Trac demo is running")
        return
    demo.stop()
    typer.echo(f"stopped {demo.base_url}")


@demo_app.command("status")
def demo_status(demo_dir: DemoDir = None) -> None:
    """Is the background Trac demo running?"""
    from lbi.envs.web.trac_server import TracDemo, trac_user_guide_dir

    demo = TracDemo.attach(demo_dir)
    if demo is None:
        typer.echo("not running")
    else:
        for key, value in demo.status().items():
            typer.echo(f"{key}: {value}")
    try:
        typer.echo(f"user guide: {trac_user_guide_dir()}")
    except EnvError as err:
        typer.echo(f"user guide: unavailable ({err})")


def _env_options(
    name: str, *, demo: bool, demo_dir: Path | None, flags: dict[str, Any], pairs: list[str] | None
) -> dict[str, Any]:
    """Options for trying ``name`` by hand: the spec's ``try_options``, the bundled demo's options (``demo``),
    the flags whose option the env has, then ``--option key=value``."""
    from lbi.demos import env_options as demo_options

    spec = env_spec(name)
    options: dict[str, Any] = dict(spec.try_options)
    if demo:
        options.update(demo_options(name, demo_dir))
    fields = spec.options.model_fields
    if demo_dir is not None and "demo_dir" in fields:
        options["demo_dir"] = demo_dir
    options.update({key: value for key, value in flags.items() if value is not None})
    options.update(spec.parse_strings(pairs or [], base=options))
    return options


@app.command("try")
def try_cmd(
    name: Annotated[str, typer.Argument(help="Environment name (see `list`).")],
    action: Annotated[
        list[str] | None,
        typer.Option("--action", "-a", help="Action to run (repeatable); without it, read from stdin."),
    ] = None,
    task_id: Annotated[
        str | None, typer.Option("--task", help="Held-out task id to start from (its start state).")
    ] = None,
    option: OptionList = None,
    start_url: Annotated[str | None, typer.Option(help="web: start URL (= -o start_url=...).")] = None,
    db: Annotated[Path | None, typer.Option(help="sql: database file (= -o db=...).")] = None,
    seed_dir: Annotated[Path | None, typer.Option(help="shell: seed directory (= -o seed_dir=...).")] = None,
    screenshot_dir: Annotated[Path | None, typer.Option(help="Save screenshots here.")] = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Use the bundled demo (sql: the seeded Trac database); implied by --task.")
    ] = False,
    demo_dir: DemoDir = None,
    show_actions: Annotated[bool, typer.Option(help="Print the action space doc.")] = False,
) -> None:
    """Reset an environment and step it with actions; print every observation."""
    from lbi.demos import demo_tasks
    from lbi.envs.tasks import run_reference

    task = None
    if task_id:
        matches = [t for t in demo_tasks() if t.id == task_id]
        if not matches:
            raise typer.BadParameter(f"no held-out task {task_id!r}")
        task = matches[0]
    flags = {"start_url": start_url, "db": db, "seed_dir": seed_dir, "screenshot_dir": screenshot_dir}
    options = _env_options(name, demo=demo or task is not None, demo_dir=demo_dir, flags=flags, pairs=option)
    with env_spec(name).make(**options) as env:
        if show_actions:
            typer.echo(env.action_space_doc() + "\n")
        if task is not None and action is None and sys.stdin.isatty():
            obs, result = run_reference(task, env)
            _print(obs)
            typer.echo(f"reference solution: success={result.success} {result.detail}")
            return
        obs = env.reset(task)
        _print(obs)
        lines = action if action is not None else (line.rstrip("\n") for line in sys.stdin)
        for line in lines:
            if not line.strip():
                continue
            obs = env.step(line)
            _print(obs)
            if obs.done:
                break


def _print(obs: Any) -> None:
    typer.echo(f"--- step {obs.step}  [{obs.state_signature}]  {obs.info.get('latency_s', 0):.3f}s")
    if obs.info.get("goal"):
        typer.echo(f"Goal (stated by the environment): {obs.info['goal']}")
    if obs.url:
        typer.echo(f"URL: {obs.url}\nTitle: {obs.title}")
    if "reward" in obs.info:
        typer.echo(f"Reward: {obs.info['reward']:g}")
    typer.echo(obs.text)
    if obs.screenshot:
        typer.echo(f"screenshot: {obs.screenshot}")
    if obs.last_action_error:
        typer.echo(f"ERROR: {obs.last_action_error}")
    if obs.done:
        typer.echo(f"DONE answer={obs.answer!r}")


@app.command("check-tasks")
def check_tasks_cmd(
    path: Annotated[
        Path | None, typer.Argument(help="Task file or folder (default: the bundled held-out tasks).")
    ] = None,
    env_name: Annotated[str | None, typer.Option("--env", help="Only tasks of this env.")] = None,
    option: OptionList = None,
    demo_dir: DemoDir = None,
) -> None:
    """Replay every task's reference solution and check it (exit 1 on a failure)."""
    from lbi.demos import demo_tasks
    from lbi.envs.tasks import load_tasks, run_reference

    tasks = load_tasks(path) if path else demo_tasks()
    tasks = [t for t in tasks if env_name is None or t.env == env_name]
    failed = 0
    by_env: dict[str, list[Any]] = {}
    for task in tasks:
        by_env.setdefault(task.env, []).append(task)
    for name, group in by_env.items():
        options = _env_options(name, demo=path is None, demo_dir=demo_dir, flags={}, pairs=option)
        with env_spec(name).make(**options) as env:
            for task in group:
                obs, result = run_reference(task, env)
                mark = "ok  " if result.success else "FAIL"
                failed += not result.success
                typer.echo(f"{mark} {task.id:16} {result.detail or result.error}")
    typer.echo(f"{len(tasks) - failed}/{len(tasks)} reference solutions pass")
    raise typer.Exit(1 if failed else 0)
