"""SWE-bench prediction lines of an evaluation run, for SWE-bench's own harness (or any tool that reads them).

One JSON object per line: ``instance_id`` (the task id), ``model_name_or_path`` (the agent's model and the
retrieval mode, ``<model>@<mode>``: SWE-bench keeps one model per predictions file, so give ``mode`` when the
run has several) and ``model_patch``: the diff the agent submitted (``submit()`` in the ``repo`` environment),
empty when the episode ended without one (SWE-bench's convention for no submission). lbi's own ``tests`` check
judges the episode's final working tree either way, so an episode that made the right change but never
submitted succeeds there and not here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lbi.errors import NotFoundError, OutputPathError
from lbi.project import Project
from lbi.use.export import output_file


@dataclass
class PredictionsReport:
    path: Path
    lines: int
    with_patch: int


def is_patch(answer: str | None) -> bool:
    """Whether an episode's answer is a diff (what submit() answers), not a message from stop()."""
    return answer is not None and answer.lstrip().startswith(("diff --git ", "--- "))


def predictions(project: Project, run: str, mode: str | None = None) -> list[dict[str, Any]]:
    """The prediction lines of evaluation run ``run`` (optionally of one mode), by mode then task id."""
    sql = (
        "SELECT e.task_id, e.mode, e.model, t.answer FROM evaluations e JOIN runs r ON r.id = e.run_id "
        "LEFT JOIN trajectories t ON t.id = e.trajectory_id WHERE r.name = ?"
    )
    params: tuple[Any, ...] = (run,)
    if mode:
        sql += " AND e.mode = ?"
        params += (mode,)
    rows = project.store.query(sql + " ORDER BY e.mode, e.task_id", params)
    if not rows:
        raise NotFoundError(
            f"no evaluations in run {run!r}"
            + (f" in mode {mode!r}" if mode else "")
            + ": see `lbi status` for the runs, `lbi eval --run NAME` to make one"
        )
    return [
        {
            "instance_id": r["task_id"],
            "model_name_or_path": f"{r['model'] or 'unknown'}@{r['mode']}",
            "model_patch": r["answer"] if is_patch(r["answer"]) else "",
        }
        for r in rows
    ]


def write_predictions(project: Project, run: str, out: Path, mode: str | None = None) -> PredictionsReport:
    lines = predictions(project, run, mode)
    path = output_file(out)
    try:
        path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    except OSError as exc:
        raise OutputPathError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return PredictionsReport(path, len(lines), sum(1 for line in lines if line["model_patch"]))
