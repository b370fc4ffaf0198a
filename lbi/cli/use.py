"""Commands that use the data: `lbi index`, `lbi retrieve`, `lbi eval`, `lbi export`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from lbi.cli.common import ProjectOpt, console, progress_bar
from lbi.errors import OutputPathError
from lbi.project import open_project


def index_cmd(project: ProjectOpt = Path("."),
              policy: Annotated[str, typer.Option(help="Judge policy deciding what is kept (default: config).")] = ""
              ) -> None:
    """Bring the chromadb index up to date with the kept examples, their steps and the doc chunks."""
    from lbi.use.index import Index

    proj = open_project(project)
    index = Index(proj)
    report = index.sync(policy or None)
    console.print(f"{report.summary()}; index now holds {index.counts()}")


def retrieve_cmd(instruction: Annotated[str, typer.Argument(help="A task instruction.")],
                 project: ProjectOpt = Path("."),
                 modes: Annotated[str, typer.Option(help="Comma-separated: agentic, examples-rag, docs-rag")
                                  ] = "agentic,examples-rag,docs-rag",
                 task: Annotated[str, typer.Option(help="Start from this task's start state (task id).")] = "",
                 out: Annotated[Path | None, typer.Option(help="Also write the JSON result to this file.")] = None
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


def eval_cmd(project: ProjectOpt = Path("."),
             modes: Annotated[str, typer.Option(help="Comma-separated: baseline,docs-rag,examples-rag,agentic")
                              ] = "baseline,agentic",
             tasks: Annotated[str, typer.Option(help="'heldout' or comma-separated task ids")] = "heldout",
             limit: Annotated[int, typer.Option(help="At most this many tasks (0: all).")] = 0,
             max_steps: Annotated[int, typer.Option(help="Step limit (0: config).")] = 0,
             run: Annotated[str, typer.Option(help="Run name; re-using it resumes.")] = "eval",
             model: Annotated[str, typer.Option(help="The agent's model for this run (default: models.agent), e.g. "
                                                     "a base and a trained model in two runs.")] = "") -> None:
    """Run the agent on held-out tasks in each mode and report success rates with n and a 95% interval."""
    from lbi.use.evaluate import evaluate, leakage, paired

    proj = open_project(project)
    if model:
        proj.config.models.agent = model
    ids = None if tasks == "heldout" else [t.strip() for t in tasks.split(",") if t.strip()]
    mode_list = [m.strip() for m in modes.split(",") if m.strip()]
    with progress_bar(f"eval {run}") as progress:
        report = evaluate(proj, mode_list, run=run, task_ids=ids, limit=limit or None, max_steps=max_steps or None,
                          progress=progress)
    table = Table("mode", "n", "successes", "rate", "95% CI", "errors")
    for s in report.summaries.values():
        low, high = s.interval
        table.add_row(s.mode, str(s.n), str(s.successes), f"{s.rate:.1%}", f"[{low:.1%}, {high:.1%}]", str(s.errors))
    console.print(table)
    for other in mode_list[1:]:  # each arm against the first, on the same tasks
        pair = paired(proj, run, mode_list[0], other)
        flips = ", ".join([f"+{t}" for t in pair.only_b] + [f"-{t}" for t in pair.only_a]) or "none"
        console.print(f"{other} vs {mode_list[0]} on {pair.tasks} tasks: {len(pair.only_b)} solved only by {other}, "
                      f"{len(pair.only_a)} only by {mode_list[0]}; McNemar exact p = {pair.p_value:.3g}; "
                      f"flipped: {flips}", markup=False)
    check = leakage(proj)
    console.print(f"held-out leakage into synthesized examples: {'none' if check['ok'] else check['detail']}")


def export_cmd(project: ProjectOpt = Path("."),
               fmt: Annotated[str, typer.Option("--format", help="jsonl or parquet")] = "jsonl",
               per: Annotated[str, typer.Option(help="One record per 'example' or per 'step'.")] = "example",
               out: Annotated[Path | None, typer.Option(help="Output file (default: <project>/export/...).")] = None,
               policy: Annotated[str, typer.Option(help="Judge policy (default: config).")] = "",
               predictions: Annotated[str, typer.Option(
                   help="Instead: SWE-bench prediction lines (instance_id, model_name_or_path, model_patch) of "
                        "this evaluation run.")] = "",
               mode: Annotated[str, typer.Option(help="With --predictions: only this mode's episodes.")] = ""
               ) -> None:
    """Export kept examples as chat-format JSONL or parquet, with a dataset card (or an eval run's predictions)."""
    from lbi.use.export import export

    proj = open_project(project)
    if predictions:
        from lbi.use.swebench import write_predictions

        written = write_predictions(proj, predictions, out or proj.dir / "export" / f"{predictions}.predictions.jsonl",
                                    mode or None)
        console.print(f"{written.lines} predictions ({written.with_patch} with a patch) in {written.path}")
        return
    target = out or proj.dir / "export" / f"lbi-{per}s.{fmt}"
    report = export(proj, target, fmt=fmt, per=per, policy=policy or None)  # type: ignore[arg-type]
    console.print(f"{report.examples} kept examples → {report.records} records in {report.path} "
                  f"(card: {report.card}; {report.missing_screenshots} missing screenshots)")
