"""The committee filter: judges' verdicts per example, near-duplicate detection, policies.

Judges come from `[[models.judges]]`: several models, or one model with distinct judging prompts
(`focus`), the `grounding` judge, a rule that needs no model (`lbi.synth.grounding`), and, when configured, the
`replay` judge (`lbi.synth.replay_judge`: the span re-run from its start state in a fresh environment comes out
the same), whose replay also gives the grounding rule the span's real effects, and the `reward` judge, the
environment's own reward (`lbi.synth.hindsight.judge_reward`). Each writes one verdict + reason
per example. Which examples are kept is never stored: `lbi.store.committee.decisions`
computes it from verdicts + policy + duplicates + human overrides.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lbi.config import JudgeSpec
from lbi.errors import ContextWindowError, OutputParseError
from lbi.models.embed import embed, preload
from lbi.project import Project
from lbi.prompts.messages import judge_messages
from lbi.prompts.replies import Verdict
from lbi.store import committee, read
from lbi.synth import grounding, hindsight, trust
from lbi.synth.backward import trajectory_steps
from lbi.synth.replay_judge import REPLAY, Replays, after_span, judge_span

Progress = Callable[[int, int], None]
GROUNDING = "grounding"
"""The focus of the judge that needs no model (`lbi.synth.grounding`)."""


@dataclass
class JudgeReport:
    examples: int = 0
    verdicts: int = 0
    failed: int = 0
    duplicate_pairs: int = 0
    kept: int = 0


def _examples(project: Project, example_ids: Sequence[int] | None) -> list[dict]:
    sql = "SELECT id, trajectory_id, span_start, span_end, instruction FROM examples"
    rows = project.store.query(sql + " ORDER BY id")
    wanted = set(example_ids) if example_ids is not None else None
    return [dict(r) for r in rows if wanted is None or r["id"] in wanted]


def _judged(project: Project) -> set[tuple[int, str]]:
    return {(r[0], r[1]) for r in project.store.query("SELECT example_id, judge FROM verdicts")}


def judge_examples(
    project: Project,
    example_ids: Sequence[int] | None = None,
    *,
    run_id: int | None = None,
    progress: Progress | None = None,
    rejudge: bool = False,
) -> JudgeReport:
    """Ask every judge about every example it has not judged yet (all of them with `rejudge`)."""
    cfg = project.config
    committee.check_policy(cfg.synth.judge_policy)  # before any verdict is written
    llm = project.llm(run_id)
    examples = _examples(project, example_ids)
    loading = preload(cfg.models.embedder)  # near-duplicate detection needs it at the end; load it while judges think
    done_pairs = set() if rejudge else _judged(project)
    report = JudgeReport(examples=len(examples))
    steps_cache: dict[int, list[dict]] = {}
    trajectories: dict[int, dict] = {}
    chrome = read.page_chrome(project.store)
    remote: list[tuple[int, dict, list[dict], JudgeSpec]] = []  # (example number, example, span, judge)
    replays = Replays(project) if any(j.focus == REPLAY for j in cfg.models.judges) else None
    try:
        for done, ex in enumerate(examples, start=1):
            tid = ex["trajectory_id"]
            if tid not in steps_cache:
                steps_cache[tid] = trajectory_steps(project, tid)
                trajectories[tid] = _trajectory(project, tid)
            steps = steps_cache[tid]
            span = steps[ex["span_start"] : ex["span_end"] + 1]
            after = after_span(steps, ex["span_end"], trajectories[tid])
            todo = [j for j in cfg.models.judges if (ex["id"], j.name) not in done_pairs]
            replayed = None
            if replays is not None and any(j.focus in (REPLAY, GROUNDING) for j in todo):
                reproduced, replayed = judge_span(replays, tid, steps, ex["span_start"], ex["span_end"])
                for judge in (j for j in todo if j.focus == REPLAY):
                    project.store.set_verdict(
                        ex["id"], judge.name, reproduced.same, reproduced.reason, model="rule/replay", run_id=run_id
                    )
                    report.verdicts += 1
            for judge in todo:
                if judge.focus == REPLAY:
                    continue
                if judge.focus == hindsight.REWARD:  # needs no model: the environment's reward
                    ok, why = hindsight.judge_reward(ex["instruction"], span, trajectories[tid]["config"])
                    project.store.set_verdict(ex["id"], judge.name, ok, why, model="rule/reward", run_id=run_id)
                    report.verdicts += 1
                    continue
                if judge.focus == GROUNDING:  # needs no model; reads the replayed effects when there are some
                    rule = grounding.judge(ex["instruction"], replayed or span, chrome, after)
                    project.store.set_verdict(
                        ex["id"], judge.name, rule.verdict, rule.reason, model="rule/grounding", run_id=run_id
                    )
                    report.verdicts += 1
                elif cfg.synth.executor == "ray":
                    remote.append((done, ex, span, judge))
                elif judge_one(project, ex, span, judge, chrome, run_id, llm):
                    report.verdicts += 1
                else:
                    report.failed += 1
            if progress and not remote:
                progress(done, len(examples))
    finally:
        if replays is not None:
            replays.close()
    if remote:
        _judge_on_ray(project, remote, chrome, run_id, report, progress, len(examples))
    # joined before returning: a caller's own import of transformers (e.g. training next) racing the thread's would
    # find the module half-initialised ("cannot import name 'AutoModel'"), which happened when nothing was left to
    # embed and find_duplicates returned before waiting on the model
    loading.join()
    report.duplicate_pairs = find_duplicates(project)
    report.kept = committee.kept_count(project.store, cfg.synth.judge_policy, trust.voters(cfg))
    return report


def _trajectory(project: Project, trajectory_id: int) -> dict:
    rows = project.store.query(
        "SELECT answer, final_observation, final_url, config_json FROM trajectories WHERE id = ?", (trajectory_id,)
    )
    if not rows:
        return {"config": {}}
    row = dict(rows[0])
    return {**row, "config": json.loads(row.pop("config_json") or "{}")}


def judge_one(
    project: Project,
    ex: dict,
    span: list[dict],
    judge: JudgeSpec,
    chrome: frozenset[str],
    run_id: int | None,
    llm: Any = None,
) -> bool:
    """Ask one model judge about one example and record its verdict (True), or the failure (False)."""
    llm = llm or project.llm(run_id)
    messages = judge_messages(
        ex["instruction"], span, ex["span_start"], judge.focus, project.config.env.description, chrome
    )
    try:
        reply = llm.complete(
            messages, role="judge", purpose=f"judge-{judge.name}", schema=Verdict, model=judge.model or None
        )
    except (OutputParseError, ContextWindowError) as exc:
        project.store.add_failure(
            "judge", str(exc), item=f"{ex['id']}:{judge.name}", raw=getattr(exc, "raw", None), run_id=run_id
        )
        return False
    project.store.set_verdict(
        ex["id"], judge.name, reply.parsed.verdict, reply.parsed.reason, model=reply.model, run_id=run_id
    )
    return True


def _judge_on_ray(
    project: Project,
    remote: list[tuple[int, dict, list[dict], JudgeSpec]],
    chrome: frozenset[str],
    run_id: int | None,
    report: JudgeReport,
    progress: Progress | None,
    total: int,
) -> None:
    """Each model judge's call is a Ray task (a limited number in flight per judge model); verdicts are written
    here as they come back. Progress counts the examples whose every judge has answered."""
    from lbi.cluster.calls import Job, run_jobs

    default = project.config.models.default
    left = Counter(number for number, *_ in remote)
    done = total - len(left)

    def add(job: Job, ok: bool, made: dict[str, int]) -> None:
        nonlocal done
        report.verdicts += ok
        report.failed += not ok
        left[job.tag] -= 1
        if not left[job.tag]:
            done += 1
            if progress:
                progress(done, total)

    run_jobs(
        project,
        [
            Job(judge.model or default, judge_one, (ex, span, judge, chrome, run_id), tag=number)
            for number, ex, span, judge in remote
        ],
        add,
    )


def find_duplicates(project: Project) -> int:
    """Record the pairs of examples whose instructions are near-identical (cosine ≥ dedup_threshold).

    Embeddings are kept in the store, so only new or edited examples are embedded and compared (against
    every example); pairs among the others are already recorded. Returns how many pairs were (re)written."""
    model = project.config.models.embedder
    rows = project.store.query(
        "SELECT e.id, e.instruction, v.model, v.text, v.vector FROM examples e "
        "LEFT JOIN example_vectors v ON v.example_id = e.id ORDER BY e.id"
    )
    if len(rows) < 2:
        return 0
    texts = [" ".join(r["instruction"].lower().split()) for r in rows]
    fresh = [k for k, r in enumerate(rows) if r["vector"] is None or r["model"] != model or r["text"] != texts[k]]
    if not fresh:
        return 0
    new_vectors = embed([texts[k] for k in fresh], model)
    project.store.set_vectors(
        (rows[k]["id"], model, texts[k], vec.astype(np.float32).tobytes())
        for k, vec in zip(fresh, new_vectors, strict=True)
    )
    fresh_set = set(fresh)
    vectors = np.zeros((len(rows), new_vectors.shape[1]), dtype=np.float32)
    for k, r in enumerate(rows):
        if k not in fresh_set:
            vectors[k] = np.frombuffer(r["vector"], dtype=np.float32)
    vectors[fresh] = new_vectors
    ids = [r["id"] for r in rows]
    threshold = project.config.synth.dedup_threshold
    pairs: list[tuple[int, int, float]] = []
    block = 2048
    for start in range(0, len(fresh), block):
        chunk = fresh[start : start + block]
        sims = vectors[chunk] @ vectors.T
        for k, row in zip(chunk, sims, strict=True):
            for j in np.nonzero(row >= threshold)[0]:
                if int(j) != k:
                    pairs.append((ids[k], ids[int(j)], float(row[j])))
    project.store.set_similar(pairs, replace_for=[ids[k] for k in fresh])
    return len({(max(a, b), min(a, b)) for a, b, _ in pairs})
