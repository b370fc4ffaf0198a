"""Export kept examples for fine-tuning: chat-format JSONL (TRL / HF `datasets` load it as is), parquet,
BrowserGym/AgentLab-style step records or Agent Data Protocol trajectories (`lbi.use.export_formats`), and a
dataset card with counts.

Every record is in the format the agent acts in: each step is the agent's turn as `lbi.prompts.messages.agent_turn`
builds it (system message with the actions and the reply's shape; the example's instruction, the span's
previous actions, the observation as the agent was shown it), and the reply is the JSON the agent writes.
`per="example"`: one record per example, a multi-turn chat (turn → reply, ...).
`per="step"`: one record per step of each example (turn → reply).
Before the kept examples are read, the leakage check runs on what is new (`lbi.synth.leakage`): an example it
flags is not kept until a person allows it, in an export and in training alike.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from lbi.agent.policies import example_seed, outline_example, with_reply_example
from lbi.errors import OutputPathError, check_choice
from lbi.project import Project
from lbi.prompts.messages import agent_system, agent_turn, history_text, recorded_observation
from lbi.prompts.replies import reply_text
from lbi.secrets import redact
from lbi.store import committee, leaks, read
from lbi.synth import hindsight, trust
from lbi.synth.leakage import refresh
from lbi.use.export_formats import ADP_VERSION, adp_records, agentlab_records

Per = Literal["example", "step"]
Fmt = Literal["jsonl", "parquet", "agentlab", "adp"]
PERS: tuple[Per, ...] = get_args(Per)


@dataclass
class ExportReport:
    path: Path
    card: Path
    records: int = 0
    examples: int = 0
    missing_screenshots: int = 0
    counts: dict[str, Counter] = field(default_factory=dict)


def step_system(project: Project, step: dict[str, Any]) -> str:
    """The agent's system message at this step as the agent is shown it now: the recorded one, with the reply
    example `models.agent_example` asks for (an explore step recorded before lbi showed the page's example
    gets it, by the same rule, from its recorded page; with "none", a recorded example becomes "..."), so that
    a model is trained in the prompt it acts in. For steps recorded before lbi kept it, one without the
    actions."""
    recorded = step.get("prompt_system")
    if not recorded:
        return agent_system(project.config.env.description or project.config.env.name, "", "")
    if project.config.models.agent_example != "page":
        return with_reply_example(recorded, None)
    if with_reply_example(recorded, None) != recorded:
        return recorded  # it shows an example already
    page = step.get("observation") or ""
    example = outline_example(page, example_seed(step["idx"], page))
    return with_reply_example(recorded, example) if example else recorded


def _turns(
    project: Project, instruction: str, steps: list[dict[str, Any]], mode: str = ""
) -> Iterator[list[dict[str, str]]]:
    """Each step of a span as the agent's turn (`lbi.prompts.messages.agent_turn`) with the example's instruction
    and the span's own previous actions, followed by the reply the agent wrote. In an example labelled by rule
    (`hindsight`, `goal`), the reply's reasoning says what the step does (`Click on the "Yes" button`) rather than
    what the walk or the agent wrote then ("explore: ...", a copied prompt example); where the rule cannot say it
    (a click on an element with no name), the reasoning restates the instruction."""
    ruled = mode in hindsight.RULE_MODES
    for k, step in enumerate(steps):
        history = history_text([(s["action"] or "", s["error"]) for s in steps[:k]])
        turn = agent_turn(step_system(project, step), instruction, recorded_observation(step), history)
        said = hindsight.describe_step(step) if ruled else None
        reasoning = said + "." if said else instruction if ruled else step["reasoning"] or ""
        yield [*turn, {"role": "assistant", "content": reply_text(reasoning, step["action"] or "")}]


def _records(
    project: Project, example: dict[str, Any], steps: list[dict[str, Any]], per: Per
) -> Iterator[dict[str, Any]]:
    meta = {
        "example_id": example["id"],
        "trajectory_id": example["trajectory_id"],
        "mode": example["mode"],
        "env": example["env"],
        "span": [example["span_start"], example["span_end"]],
    }
    turns = list(_turns(project, example["instruction"], steps, example["mode"]))
    if per == "example":  # one conversation: the first step's system message, then each step's turn and reply
        messages = [turns[0][0], *(message for turn in turns for message in turn[1:])]
        yield {"messages": messages, "images": [s["screenshot"] for s in steps if s["screenshot"]], **meta}
        return
    for turn, step in zip(turns, steps, strict=True):
        yield {
            "messages": turn,
            "images": [step["screenshot"]] if step["screenshot"] else [],
            **meta,
            "step": step["idx"],
        }


def kept_examples(project: Project, policy: str | None = None, only: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The examples the committee keeps under `policy`; `only` counts only those judges' verdicts."""
    cfg = project.config
    ids = committee.kept_ids(project.store, policy or cfg.synth.judge_policy, trust.voters(cfg), only or None)
    return [
        dict(r)
        for r in project.store.query(
            "SELECT e.*, t.env, t.policy, t.task_id FROM examples e JOIN trajectories t ON t.id = e.trajectory_id "
            "WHERE e.id IN (SELECT value FROM json_each(?)) ORDER BY e.id",
            (json.dumps(ids),),
        )
    ]


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
        raise OutputPathError(
            f"cannot write {out}: cannot create the folder {out.parent} ({exc.strerror or exc})"
        ) from exc
    return out


def card_path(out: Path) -> Path:
    """The dataset card written beside an export file."""
    return out.with_name(out.stem + ".card.md")


def kept_steps(
    project: Project, policy: str, only: Sequence[str] = (), modes: Sequence[str] = ()
) -> tuple[list[dict[str, Any]], dict[int, list[dict[str, Any]]], int]:
    """The kept examples under `policy` (counting only the judges `only`, if given; made by the backward `modes`,
    if given), the steps of each (screenshots as absolute paths), and how many screenshots the steps name but the
    disk lacks (those steps name none)."""
    examples = [e for e in kept_examples(project, policy, only) if not modes or e["mode"] in modes]
    steps_of: dict[int, list[dict[str, Any]]] = {}
    missing = 0
    for ex in examples:
        steps = read.steps(project.store, ex["trajectory_id"], ex["span_start"], ex["span_end"])
        for step in steps:
            shot = project.resolve(step["screenshot"])
            if shot is not None and not shot.exists():
                missing += 1
                shot = None
            step["screenshot"] = str(shot) if shot else None
        steps_of[ex["id"]] = steps
    return examples, steps_of, missing


def build_records(
    project: Project, per: Per, policy: str, fmt: str = "jsonl", only: Sequence[str] = (), modes: Sequence[str] = ()
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """The kept examples under `policy` (counting only the judges `only`, if given), their records (lbi's chat
    records, one per example or per step; or `agentlab` step records, `adp` trajectories:
    `lbi.use.export_formats`), and the screenshots missing on disk."""
    refresh(project, ("example",))  # what the leakage check flags is not kept (`lbi.store.committee`)
    examples, steps_of, missing = kept_steps(project, policy, only, modes)
    if fmt == "agentlab":
        return examples, list(agentlab_records(examples, steps_of)), missing
    if fmt == "adp":
        return examples, list(adp_records(examples, steps_of)), missing
    records = [r for ex in examples for r in _records(project, ex, steps_of[ex["id"]], per)]
    return examples, records, missing


def export(
    project: Project, out: Path, *, fmt: str = "jsonl", per: str = "example", policy: str | None = None
) -> ExportReport:
    """Write kept examples to `out` (a .jsonl or .parquet file) and a dataset card next to it."""
    check_choice("export format", fmt, get_args(Fmt))
    unit = check_choice("record unit (--per)", per, PERS)
    policy = committee.check_policy(policy or project.config.synth.judge_policy)
    out = output_file(out)
    examples, records, missing = build_records(project, unit, policy, fmt)
    report = ExportReport(path=out, card=card_path(out), examples=len(examples), missing_screenshots=missing)
    counts: dict[str, Counter[str]] = {
        "env": Counter(),
        "mode": Counter(),
        "rollout policy": Counter(),
        "override": Counter(),
    }
    overridden = {r[0]: r[1] for r in project.store.query(committee.LATEST_OVERRIDES)}
    for ex in examples:
        counts["env"][ex["env"]] += 1
        counts["mode"][ex["mode"]] += 1
        counts["rollout policy"][ex["policy"]] += 1
        counts["override"][overridden.get(ex["id"], "none")] += 1
    report.records = len(records)
    report.counts = counts
    try:
        if fmt != "parquet":  # jsonl, agentlab, adp: JSON Lines
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
    lines = [
        f"# {project.config.project}: synthesized agent data",
        "",
        f"Made by lbi (Learn-by-interact) from the `{project.config.env.name}` environment.",
        "",
        f"- file: `{report.path.name}` ({fmt}, one record per "
        f"{ {'agentlab': 'step', 'adp': 'example'}.get(fmt, per) })",
        f"- kept examples: {report.examples} (judge policy `{policy}`, "
        f"voting judges: {', '.join(trust.voters(project.config))}; human overrides win)",
        f"- records: {report.records}",
        f"- left out because they resemble a held-out task (`lbi leakage`): "
        f"{len(leaks.blocked(project.store, 'example'))} examples",
        f"- screenshots referenced but missing on disk: {report.missing_screenshots}",
        "",
        {
            "agentlab": "BrowserGym/AgentLab-style step records (goal, obs.axtree_txt, action, last_action_error, "
            "reward per step); `datasets.load_dataset('json', data_files=PATH)` loads them.",
            "adp": f"Agent Data Protocol trajectories (schema {ADP_VERSION}): text/web observations and "
            "api/message actions linked by tool_call_id.",
        }.get(
            fmt,
            "Load with `datasets.load_dataset('json', data_files=PATH)`; the `messages` column is the chat "
            "format TRL's SFTTrainer takes.",
        ),
        "",
    ]
    for name, counter in report.counts.items():
        lines.append(f"## by {name}")
        lines += [f"- {key}: {value}" for key, value in sorted(counter.items())] or ["- (none)"]
        lines.append("")
    return "\n".join(lines)
