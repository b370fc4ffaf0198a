"""`lbi curate ...`: curation at scale from the command line, the same functions as the Review page: clusters of
instructions (`cluster`, the workbench's background job), bulk decisions over a queue (`decide`, shown before they
are applied), undoing one (`undo`), and an example's lineage (`lineage`)."""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.table import Table

from lbi.cli.common import ProjectOpt, console, progress_bar
from lbi.project import open_project
from lbi.synth import trust

app = typer.Typer(no_args_is_help=True, help="Clusters, bulk decisions and lineage of examples.")


def _who(who: str) -> str:
    if who:
        return who
    try:
        return os.environ.get("USER") or getpass.getuser() or "researcher"
    except (KeyError, OSError):
        return "researcher"


WhoOpt = Annotated[str, typer.Option(help="Name recorded with the overrides (default: $USER).")]


@app.command("cluster")
def cluster_cmd(
    project: ProjectOpt = Path("."),
    method: Annotated[
        str,
        typer.Option(
            help="minilm (the project's embedder; reuses the vectors the committee stored) or hashing (no model; fast)."
        ),
    ] = "minilm",
    threshold: Annotated[
        float, typer.Option(help="Cosine distance up to which instructions join a cluster (0: the method's default).")
    ] = 0.0,
    near_dup: Annotated[
        float, typer.Option(help="Cosine similarity of near-duplicates (0: synth.dedup_threshold).")
    ] = 0.0,
    run: Annotated[str, typer.Option(help="Run name (default: cluster-<time>).")] = "",
) -> None:
    """Cluster the instructions of every example; the newest clustering replaces the one before."""
    import time

    from lbi.curate.clusters import cluster_examples, settings

    proj = open_project(project)
    name = run or f"cluster-{time.strftime('%Y%m%d-%H%M%S')}"
    config = settings(method, threshold or None, near_dup or None, proj)
    with proj.run(name, "cluster", config) as record, progress_bar("embedding") as bar:
        report = cluster_examples(
            proj,
            method=method,
            threshold=threshold or None,
            near_dup=near_dup or None,
            run_id=record.id,
            progress=record.track(bar),
        )
        record.message = report.summary()
    console.print(report.summary())
    console.print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in report.seconds.items()))


@app.command("decide")
def decide_cmd(
    verdict: Annotated[str, typer.Argument(help="keep or drop")],
    project: ProjectOpt = Path("."),
    queue: Annotated[
        str, typer.Option(help="filtered, kept, disagree, one-no, all, cluster, trajectory, batch, leaks")
    ] = "filtered",
    search: Annotated[str, typer.Option(help="Only instructions containing this.")] = "",
    cluster: Annotated[int | None, typer.Option(help="The cluster (--queue cluster).")] = None,
    trajectory: Annotated[int | None, typer.Option(help="The trajectory (--queue trajectory).")] = None,
    policy: Annotated[str, typer.Option(help="Judge policy of the filtered/kept queues (default: config).")] = "",
    note: Annotated[str, typer.Option(help="Why (recorded with every override).")] = "",
    who: WhoOpt = "",
    yes: Annotated[bool, typer.Option("--yes", help="Apply it (without: only show what it would do).")] = False,
) -> None:
    """A bulk keep/drop over a queue: shows what it would change; with --yes, records one override per example
    under one batch id (`lbi curate undo BATCH` takes it back)."""
    from lbi.curate import bulk
    from lbi.errors import check_choice
    from lbi.store.queues import QueueSpec, queue_ids

    proj = open_project(project)
    decision: Literal["keep", "drop"] = check_choice("verdict", verdict, ("keep", "drop"))
    spec = QueueSpec.from_params(
        {
            "queue": queue,
            "search": search,
            "policy": policy or proj.config.synth.judge_policy,
            **({"cluster": str(cluster)} if cluster is not None else {}),
            **({"trajectory": str(trajectory)} if trajectory is not None else {}),
        }
    )
    judges = trust.voters(proj.config)
    plan = bulk.plan(
        proj.store,
        queue_ids(proj.store, spec, judges),
        decision,
        note=note,
        policy=spec.policy,
        judges=judges,
    )
    console.print(f"{spec.label()}: {plan.summary}")
    for row in plan.sample:
        console.print(f"  #{row['id']} {row['instruction'][:100]}", markup=False, highlight=False)
    if not yes:
        console.print("Nothing recorded: add --yes to apply it.")
        return
    batch = bulk.apply(proj.store, plan, who=_who(who))
    recorded = "1 override" if len(plan.ids) == 1 else f"{len(plan.ids)} overrides"
    console.print(f"Recorded {recorded} as batch {batch} (undo: lbi curate undo {batch}).")


@app.command("undo")
def undo_cmd(
    batch: Annotated[str, typer.Argument(help="The batch id `lbi curate decide` printed.")],
    project: ProjectOpt = Path("."),
    who: WhoOpt = "",
) -> None:
    """Undo a bulk decision: its overrides stay on record, marked undone, and no longer count."""
    from lbi.curate import bulk

    proj = open_project(project)
    count = bulk.undo(proj.store, batch, who=_who(who))
    console.print(f"Undid {count} overrides of batch {batch}.")


@app.command("lineage")
def lineage_cmd(
    example: Annotated[int, typer.Argument(help="Example id.")],
    project: ProjectOpt = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Everything, as JSON.")] = False,
) -> None:
    """Where an example came from and where it went: doc chunk → task → trajectory → span → verdicts and overrides
    → training runs → the held-out tasks that flipped in their evaluation."""
    from lbi.errors import NotFoundError
    from lbi.store import lineage

    proj = open_project(project)
    info = lineage.lineage(proj.store, example, policy=proj.config.synth.judge_policy, judges=trust.voters(proj.config))
    if info is None:
        raise NotFoundError(f"no example {example}")
    if as_json:
        console.print_json(lineage.as_json(info))
        return
    table = Table("stage", "what", title=f"Lineage of example {example}")
    for row in lineage.summary(info):
        table.add_row(row["stage"], row["what"])
    console.print(table)
