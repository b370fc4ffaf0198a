"""Where an example came from and where it went, read from the store: doc chunk → generated task → trajectory →
span → verdicts and overrides → the training runs that used it → the held-out tasks that flipped when the model
they trained was evaluated against its base model.

An explore walk has no task (backward construction gave its spans their instructions), so its lineage starts at the
trajectory. A training run records the ids it trained on (`train_runs.examples_json`); its evaluation is every eval
arm whose agent model is the model it served, paired with the same mode of its base model on the tasks both ran.
"""

from __future__ import annotations

import json
from typing import Any

from lbi.store import read
from lbi.store.committee import Judges
from lbi.store.db import Store

CHUNK_PREVIEW = 600
"""Characters of the doc chunk shown in a lineage."""


def _one(store: Store, sql: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
    rows = store.query(sql, params)
    return dict(rows[0]) if rows else None


def training_runs(store: Store, example_id: int) -> list[dict[str, Any]]:
    """The training runs whose examples include this one, oldest first: run id, name, status, base model, the
    model it served, the base served beside it at the same precision (`served_base`, '' when none was), records,
    when."""
    return [
        dict(r)
        for r in store.query(
            "SELECT t.run_id, r.name, r.status, t.base_model, t.model, "
            "COALESCE(json_extract(t.config_json, '$.served_base'), '') AS served_base, t.records, r.created_at "
            "FROM train_runs t JOIN runs r ON r.id = t.run_id "
            "WHERE EXISTS (SELECT 1 FROM json_each(t.examples_json) j WHERE j.value = ?) "
            "ORDER BY t.run_id",
            (example_id,),
        )
    ]


def _latest_arms(store: Store, model: str) -> dict[str, dict[str, Any]]:
    """The newest eval run of `model` per mode: mode → {run, run_id, results: task → success}."""
    by_mode: dict[str, dict[int, dict[str, Any]]] = {}
    for row in store.query(
        "SELECT r.id, r.name, e.mode, e.task_id, e.success FROM evaluations e "
        "JOIN runs r ON r.id = e.run_id WHERE e.model = ?",
        (model,),
    ):
        arm = by_mode.setdefault(row["mode"], {}).setdefault(
            row["id"], {"run": row["name"], "run_id": row["id"], "results": {}}
        )
        arm["results"][row["task_id"]] = bool(row["success"])
    return {mode: runs[max(runs)] for mode, runs in by_mode.items()}


def flips(store: Store, model: str, base_model: str, served_base: str = "") -> list[dict[str, Any]]:
    """Per mode both models were evaluated in (their newest eval runs): the trained arm, its base arm, the tasks
    both ran, the held-out tasks only the trained model solved (`gained`) and only the base model solved (`lost`).
    The base arm is the newest eval run of `served_base` (the base served at the trained model's precision, what
    `lbi train` says to compare with) in that mode, else of `base_model`."""
    if not model:
        return []
    trained = _latest_arms(store, model)
    base = {**_latest_arms(store, base_model), **(_latest_arms(store, served_base) if served_base else {})}
    out = []
    for mode, arm in trained.items():
        ref = base.get(mode)
        if ref is None:
            out.append(
                {
                    "arm": f"{arm['run']}:{mode}",
                    "vs": "",
                    "tasks": len(arm["results"]),
                    "gained": [],
                    "lost": [],
                    "solved": sum(arm["results"].values()),
                }
            )
            continue
        shared = sorted(set(arm["results"]) & set(ref["results"]))
        out.append(
            {
                "arm": f"{arm['run']}:{mode}",
                "vs": f"{ref['run']}:{mode}",
                "tasks": len(shared),
                "gained": [t for t in shared if arm["results"][t] and not ref["results"][t]],
                "lost": [t for t in shared if ref["results"][t] and not arm["results"][t]],
                "solved": sum(arm["results"].values()),
            }
        )
    return out


def lineage(store: Store, example_id: int, *, policy: str = "strict", judges: Judges = 0) -> dict[str, Any] | None:
    """Everything about where an example came from and where it went (None when there is no such example):
    `example` (as `read.example`: decision, span steps, verdicts, overrides, edits), `trajectory`, `task`, `chunk`
    (its text cut to CHUNK_PREVIEW characters), `document`, `training` (the runs that used it, each with the
    `flips` of its evaluation)."""
    ex = read.example(store, example_id, policy=policy, judges=judges)
    if ex is None:
        return None
    traj = _one(
        store,
        "SELECT t.id, t.key, t.task_id, t.instruction, t.policy, t.env, t.model, t.status, "
        "t.created_at, r.name AS run, r.kind AS run_kind FROM trajectories t "
        "LEFT JOIN runs r ON r.id = t.run_id WHERE t.id = ?",
        (ex["trajectory_id"],),
    )
    task = chunk = document = None
    if traj and traj["task_id"]:
        task = _one(
            store,
            "SELECT id, instruction, split, env, model, chunk_id, created_at FROM tasks WHERE id = ?",
            (traj["task_id"],),
        )
    if task and task["chunk_id"]:
        chunk = _one(
            store,
            "SELECT id, doc_id, ordinal, title, substr(text, 1, ?) AS text, length(text) AS chars "
            "FROM chunks WHERE id = ?",
            (CHUNK_PREVIEW, task["chunk_id"]),
        )
    if chunk:
        document = _one(store, "SELECT id, title, source, format FROM documents WHERE id = ?", (chunk["doc_id"],))
    training = training_runs(store, example_id)
    for run in training:
        run["evaluation"] = flips(store, run["model"] or "", run["base_model"], run["served_base"])
    return {"example": ex, "trajectory": traj, "task": task, "chunk": chunk, "document": document, "training": training}


def summary(info: dict[str, Any]) -> list[dict[str, str]]:
    """A lineage (`lineage()`) as rows of (stage, what), top to bottom, for a table or the CLI."""
    ex, traj, task, chunk, doc = (info[k] for k in ("example", "trajectory", "task", "chunk", "document"))
    rows: list[dict[str, str]] = []
    if doc:
        rows.append({"stage": "document", "what": f"{doc['title'] or doc['id']} ({doc['source']})"})
    if chunk:
        rows.append({"stage": "doc chunk", "what": f"{chunk['id']} · {chunk['title'] or ''} · {chunk['chars']} chars"})
    if task:
        rows.append({"stage": "generated task", "what": f"{task['id']} ({task['split']}): {task['instruction']}"})
    elif traj:
        rows.append(
            {
                "stage": "generated task",
                "what": f"none: an {traj['policy']} rollout (backward construction labelled its spans)",
            }
        )
    if traj:
        rows.append(
            {
                "stage": "trajectory",
                "what": f"#{traj['id']} · run {traj['run'] or '—'} · {traj['policy']} · "
                f"env {traj['env']} · {traj['status']}",
            }
        )
    rows.append(
        {"stage": "span", "what": f"steps {ex['span_start']}–{ex['span_end']} ({ex['mode']}): {ex['instruction']}"}
    )
    verdicts = ", ".join(f"{v['judge']} {'yes' if v['verdict'] else 'no'}" for v in ex["verdicts"]) or "not judged"
    rows.append({"stage": "verdicts", "what": verdicts})
    live = [o for o in ex["overrides"] if not o["undone_at"]]
    rows.append(
        {
            "stage": "overrides",
            "what": "; ".join(
                f"{o['verdict']} by {o['who']} at {o['at'][:16]}" + (f" ({o['note']})" if o["note"] else "")
                for o in live
            )
            or "none" + (f" ({len(ex['overrides'])} undone)" if ex["overrides"] else ""),
        }
    )
    decision = ex["decision"] or {}
    rows.append({"stage": "decision", "what": "kept" if decision.get("kept") else "dropped"})
    for run in info["training"]:
        rows.append(
            {
                "stage": "training run",
                "what": f"{run['name']} ({run['status']}): {run['base_model']} → "
                f"{run['model'] or '—'}, {run['records']} records",
            }
        )
        for arm in run["evaluation"]:
            flipped = [f"+{t}" for t in arm["gained"]] + [f"-{t}" for t in arm["lost"]]
            rows.append(
                {
                    "stage": "evaluation",
                    "what": f"{arm['arm']} vs {arm['vs'] or 'no base arm'} on "
                    f"{arm['tasks']} tasks: " + (", ".join(flipped) or "no task flipped"),
                }
            )
    if not info["training"]:
        rows.append({"stage": "training run", "what": "none has used it yet"})
    return rows


def as_json(info: dict[str, Any]) -> str:
    """A lineage as JSON (steps without their long observation text)."""
    ex = {k: v for k, v in info["example"].items() if k != "steps"}
    ex["steps"] = [{k: s[k] for k in ("idx", "action", "url", "error")} for s in info["example"]["steps"]]
    return json.dumps({**info, "example": ex}, indent=2, default=str)
