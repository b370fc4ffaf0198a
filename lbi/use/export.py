"""Export kept examples for fine-tuning: chat-format JSONL (TRL / HF `datasets` load it as is), parquet,
and a dataset card with counts.

`per="example"`: one record per example, a multi-turn chat (observation → action, ...).
`per="step"`: one record per step of each example: task + recent actions + observation → action.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from lbi.errors import OutputPathError, check_choice
from lbi.project import Project
from lbi.prompts import clip
from lbi.secrets import redact
from lbi.store import committee

Per = Literal["example", "step"]
Fmt = Literal["jsonl", "parquet"]


@dataclass
class ExportReport:
    path: Path
    card: Path
    records: int = 0
    examples: int = 0
    missing_screenshots: int = 0
    counts: dict[str, Counter] = field(default_factory=dict)


def _system(project: Project) -> str:
    return (f"You are an agent acting in this environment: {project.config.env.description or project.config.env.name}."
            " Each turn you see an observation; reply with exactly one action.")


def _obs(step: dict[str, Any]) -> str:
    text = clip(step.get("observation") or "")
    return f"URL: {step['url']}\n{text}" if step.get("url") else text


def _records(project: Project, example: dict[str, Any], steps: list[dict[str, Any]], per: Per
             ) -> Iterator[dict[str, Any]]:
    system = _system(project)
    meta = {"example_id": example["id"], "trajectory_id": example["trajectory_id"], "mode": example["mode"],
            "env": example["env"], "span": [example["span_start"], example["span_end"]]}
    if per == "example":
        messages = [{"role": "system", "content": system}]
        for k, step in enumerate(steps):
            prefix = f"Task: {example['instruction']}\n\n" if k == 0 else ""
            messages.append({"role": "user", "content": f"{prefix}Observation:\n{_obs(step)}"})
            messages.append({"role": "assistant", "content": step["action"] or ""})
        yield {"messages": messages, "images": [s["screenshot"] for s in steps if s["screenshot"]], **meta}
        return
    for k, step in enumerate(steps):
        history = "\n".join(f"{i}. {s['action']}" for i, s in enumerate(steps[:k])) or "(none yet)"
        user = f"Task: {example['instruction']}\n\nPrevious actions:\n{history}\n\nObservation:\n{_obs(step)}"
        yield {"messages": [{"role": "system", "content": system}, {"role": "user", "content": user},
                            {"role": "assistant", "content": step["action"] or ""}],
               "images": [step["screenshot"]] if step["screenshot"] else [], **meta, "step": step["idx"]}


def kept_examples(project: Project, policy: str | None = None) -> list[dict[str, Any]]:
    cfg = project.config
    ids = committee.kept_ids(project.store, policy or cfg.synth.judge_policy, len(cfg.models.judges))
    return [dict(r) for r in project.store.query(
        "SELECT e.*, t.env, t.policy, t.task_id FROM examples e JOIN trajectories t ON t.id = e.trajectory_id "
        "WHERE e.id IN (SELECT value FROM json_each(?)) ORDER BY e.id", (json.dumps(ids),))]


def output_file(out: Path) -> Path:
    """`out` with its folder created, or `OutputPathError` saying why a file cannot be written there."""
    out = Path(out)
    if out.is_dir():
        raise OutputPathError(f"cannot write {out}: it is a folder; give a file name (e.g. {out / 'data.jsonl'})")
    blocker = next((p for p in out.parents if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise OutputPathError(f"cannot write {out}: {blocker} is a file, not a folder")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputPathError(f"cannot write {out}: cannot create the folder {out.parent} "
                              f"({exc.strerror or exc})") from exc
    return out


def card_path(out: Path) -> Path:
    """The dataset card written beside an export file."""
    return out.with_name(out.stem + ".card.md")


def export(project: Project, out: Path, *, fmt: Fmt = "jsonl", per: Per = "example",
           policy: str | None = None) -> ExportReport:
    """Write kept examples to `out` (a .jsonl or .parquet file) and a dataset card next to it."""
    check_choice("export format", fmt, get_args(Fmt))
    check_choice("record unit (--per)", per, get_args(Per))
    policy = committee.check_policy(policy or project.config.synth.judge_policy)
    out = output_file(out)
    examples = kept_examples(project, policy)
    report = ExportReport(path=out, card=card_path(out), examples=len(examples))
    counts = {"env": Counter(), "mode": Counter(), "rollout policy": Counter(), "override": Counter()}
    overridden = {r[0]: r[1] for r in project.store.query(committee.LATEST_OVERRIDES)}
    records: list[dict[str, Any]] = []
    for ex in examples:
        steps = [dict(r) for r in project.store.query(
            "SELECT idx, observation, action, url, screenshot FROM steps WHERE trajectory_id = ? AND idx BETWEEN ? "
            "AND ? ORDER BY idx", (ex["trajectory_id"], ex["span_start"], ex["span_end"]))]
        for step in steps:
            shot = project.resolve(step["screenshot"])
            if shot is not None and not shot.exists():
                report.missing_screenshots += 1
                shot = None
            step["screenshot"] = str(shot) if shot else None
        records.extend(_records(project, ex, steps, per))
        counts["env"][ex["env"]] += 1
        counts["mode"][ex["mode"]] += 1
        counts["rollout policy"][ex["policy"]] += 1
        counts["override"][overridden.get(ex["id"], "none")] += 1
    report.records = len(records)
    report.counts = counts
    try:
        if fmt == "jsonl":
            with out.open("w", encoding="utf-8") as fh:
                for record in records:
                    fh.write(redact(json.dumps(record, ensure_ascii=False)) + "\n")
        else:
            import pandas as pd

            frame = pd.DataFrame([{**r, "messages": r["messages"]} for r in records])
            frame.to_parquet(out, index=False)
        report.card.write_text(_card(project, report, fmt, per, policy), encoding="utf-8")
    except OSError as exc:
        raise OutputPathError(f"cannot write {exc.filename or out}: {exc.strerror or exc}") from exc
    return report


def _card(project: Project, report: ExportReport, fmt: str, per: str, policy: str) -> str:
    lines = [f"# {project.config.project}: synthesized agent data", "",
             f"Made by lbi (Learn-by-interact) from the `{project.config.env.name}` environment.", "",
             f"- file: `{report.path.name}` ({fmt}, one record per {per})",
             f"- kept examples: {report.examples} (judge policy `{policy}`, "
             f"{len(project.config.models.judges)} judges; human overrides win)",
             f"- records: {report.records}",
             f"- screenshots referenced but missing on disk: {report.missing_screenshots}", "",
             "Load with `datasets.load_dataset('json', data_files=PATH)`; the `messages` column is the chat "
             "format TRL's SFTTrainer takes.", ""]
    for name, counter in report.counts.items():
        lines.append(f"## by {name}")
        lines += [f"- {key}: {value}" for key, value in sorted(counter.items())] or ["- (none)"]
        lines.append("")
    return "\n".join(lines)
