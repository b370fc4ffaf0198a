"""Commands that use the data: `lbi index`, `lbi retrieve`, `lbi eval` (and `lbi eval compare`), `lbi export`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from lbi.cli.common import ProjectOpt, RayOpt, console, progress_bar
from lbi.cli.leakage import print_leakage
from lbi.cluster.session import use_ray
from lbi.errors import OutputPathError
from lbi.project import open_project

if TYPE_CHECKING:
    from lbi.use.evaluate import Paired


def index_cmd(
    project: ProjectOpt = Path("."),
    policy: Annotated[str, typer.Option(help="Judge policy deciding what is kept (default: config).")] = "",
) -> None:
    """Bring the chromadb index up to date with the kept examples, their steps and the doc chunks."""
    from lbi.use.index import Index

    proj = open_project(project)
    index = Index(proj)
    report = index.sync(policy or None)
    console.print(f"{report.summary()}; index now holds {index.counts()}")


def retrieve_cmd(
    instruction: Annotated[str, typer.Argument(help="A task instruction.")],
    project: ProjectOpt = Path("."),
    modes: Annotated[
        str, typer.Option(help="Comma-separated: agentic, examples-rag, docs-rag")
    ] = "agentic,examples-rag,docs-rag",
    task: Annotated[str, typer.Option(help="Start from this task's start state (task id).")] = "",
    out: Annotated[Path | None, typer.Option(help="Also write the JSON result to this file.")] = None,
) -> None:
    """Show what each retrieval mode returns for an instruction at the environment's start state."""
    from lbi.use.export import output_file
    from lbi.use.retrieval import compare

    proj = open_project(project)
    out = output_file(out) if out else None
    result = compare(proj, instruction, [m.strip() for m in modes.split(",") if m.strip()], task_id=task or None)
    text = json.dumps(result, indent=2)
    if out:
        tmp = out.with_suffix(".tmp")
        try:
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(out)
        except OSError as exc:
            raise OutputPathError(f"cannot write {out}: {exc.strerror or exc}") from exc
    console.print_json(text)


eval_app = typer.Typer(invoke_without_command=True)


@eval_app.callback()
def eval_cmd(
    ctx: typer.Context,
    project: ProjectOpt = Path("."),
    modes: Annotated[
        str, typer.Option(help="Comma-separated: baseline,docs-rag,examples-rag,agentic")
    ] = "baseline,agentic",
    tasks: Annotated[str, typer.Option(help="'heldout' or comma-separated task ids")] = "heldout",
    limit: Annotated[int, typer.Option(help="At most this many tasks (0: all).")] = 0,
    max_steps: Annotated[int, typer.Option(help="Step limit (0: config).")] = 0,
    run: Annotated[str, typer.Option(help="Run name; re-using it resumes.")] = "eval",
    model: Annotated[
        str,
        typer.Option(
            help="The agent's model for this run (default: models.agent), e.g. a base and a trained model in two runs."
        ),
    ] = "",
    ray: RayOpt = None,
) -> None:
    """Run the agent on held-out tasks in each mode and report success rates with n and a 95% interval
    (`lbi eval compare ARM ARM...` compares arms across runs)."""
    if ctx.invoked_subcommand is not None:
        return
    from lbi.use.evaluate import evaluate, leakage, paired

    proj = open_project(project)
    use_ray(proj.config, ray)
    if model:
        proj.config.models.agent = model
    ids = None if tasks == "heldout" else [t.strip() for t in tasks.split(",") if t.strip()]
    mode_list = [m.strip() for m in modes.split(",") if m.strip()]
    with progress_bar(f"eval {run}") as progress:
        report = evaluate(
            proj, mode_list, run=run, task_ids=ids, limit=limit or None, max_steps=max_steps or None, progress=progress
        )
    table = Table("mode", "n", "successes", "rate", "95% CI", "errors")
    for s in report.summaries.values():
        low, high = s.interval
        table.add_row(s.mode, str(s.n), str(s.successes), f"{s.rate:.1%}", f"[{low:.1%}, {high:.1%}]", str(s.errors))
    console.print(table)
    for other in mode_list[1:]:  # each arm against the first, on the same tasks
        _print_pair(paired(proj, run, mode_list[0], other))
    print_leakage(leakage(proj))


@eval_app.command("compare")
def compare_cmd(
    arms: Annotated[
        list[str], typer.Argument(help="Arms RUN:MODE (or RUN when it ran one mode); the first is the reference.")
    ],
    project: ProjectOpt = Path("."),
) -> None:
    """Compare arms across eval runs: success, n, 95% CI and model per arm; each against the first on the tasks
    both ran (McNemar's exact test, the tasks that flipped)."""
    from lbi.use.arms import compare
    from lbi.use.evaluate import leakage

    proj = open_project(project)
    result = compare(proj.store, arms)
    success, cost = Table(title="success"), Table(title="cost")
    for table, columns in (
        (success, ("model", "n", "solved", "rate [95% CI]", "errors")),
        (cost, ("steps", "model calls", "tokens", "model s", "wall s")),
    ):
        table.add_column("arm", no_wrap=True)
        for column in columns:
            table.add_column(column)
    for arm in result.arms:
        low, high = arm.interval
        success.add_row(
            arm.label,
            arm.model,
            str(arm.n),
            str(arm.successes),
            f"{arm.rate:.1%} [{low:.1%}, {high:.1%}]",
            str(arm.errors),
        )
        cost.add_row(
            arm.label, str(arm.steps), str(arm.calls), str(arm.tokens), f"{arm.model_s:.1f}", f"{arm.wall_s:.1f}"
        )
    console.print(success, cost)
    for pair in result.pairs:
        _print_pair(pair)
    print_leakage(leakage(proj))


def _print_pair(pair: Paired) -> None:
    console.print(
        f"{pair.b} vs {pair.a} on {pair.tasks} tasks: {len(pair.only_b)} solved only by {pair.b}, "
        f"{len(pair.only_a)} only by {pair.a}; McNemar exact p = {pair.p_value:.3g}; "
        f"flipped: {pair.flips()}",
        markup=False,
    )


def export_cmd(
    project: ProjectOpt = Path("."),
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="jsonl or parquet (lbi's chat records), agentlab "
            "(BrowserGym/AgentLab step records) or adp (Agent "
            "Data Protocol trajectories)",
        ),
    ] = "jsonl",
    per: Annotated[str, typer.Option(help="One record per 'example' or per 'step'.")] = "example",
    out: Annotated[Path | None, typer.Option(help="Output file (default: <project>/export/...).")] = None,
    policy: Annotated[str, typer.Option(help="Judge policy (default: config).")] = "",
    predictions: Annotated[
        str,
        typer.Option(
            help="Instead: SWE-bench prediction lines (instance_id, model_name_or_path, model_patch) of "
            "this evaluation run."
        ),
    ] = "",
    mode: Annotated[str, typer.Option(help="With --predictions: only this mode's episodes.")] = "",
) -> None:
    """Export kept examples as chat-format JSONL or parquet, with a dataset card (or an eval run's predictions)."""
    from lbi.use.export import export

    proj = open_project(project)
    if predictions:
        from lbi.use.swebench import write_predictions

        written = write_predictions(
            proj, predictions, out or proj.dir / "export" / f"{predictions}.predictions.jsonl", mode or None
        )
        console.print(f"{written.lines} predictions ({written.with_patch} with a patch) in {written.path}")
        return
    target = out or proj.dir / "export" / (
        {"agentlab": "lbi-agentlab-steps.jsonl", "adp": "lbi-adp.jsonl"}.get(fmt) or f"lbi-{per}s.{fmt}"
    )
    report = export(proj, target, fmt=fmt, per=per, policy=policy or None)
    console.print(
        f"{report.examples} kept examples → {report.records} records in {report.path} "
        f"(card: {report.card}; {report.missing_screenshots} missing screenshots)"
    )
