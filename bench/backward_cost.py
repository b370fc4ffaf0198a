"""Backward construction cost: `per-span` (the paper, one call per span) vs `batched` (one call per start).

Records real explore trajectories (default: the `sql` env on the Trac demo database; `--env trac` for the
web demo) of the given lengths, then backward-constructs every span of the same trajectories in both
modes and measures, per mode: model calls and prompt + completion tokens per example (from `llm_calls`),
wall time, and the committee's acceptance rate on a sample of each mode's examples (every example of the sample
counts; one missing a judge's verdict counts as a no, as the strict rule counts it — `missing_verdict` says how
many).

Goal (issue 7): batched ≥ 10× fewer calls and ≥ 3× fewer tokens per kept example at equal or better
acceptance.

    .venv/bin/python bench/backward_cost.py                        # small default (≲10 min on 2 cores)
    .venv/bin/python bench/backward_cost.py --lengths 4,8,12,16,20 --trajectories 2 --judge-sample 0   # full
    .venv/bin/python bench/backward_cost.py --model fake           # plumbing check, seconds
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH_PORT, bench_config, local_model, machine, table, timer, write_result  # noqa: E402

from lbi.demos import env_options  # noqa: E402
from lbi.project import Project, init_project  # noqa: E402
from lbi.store import committee  # noqa: E402
from lbi.synth.backward import check_mode, construct  # noqa: E402
from lbi.synth.judge import judge_examples  # noqa: E402
from lbi.synth.rollout import rollout  # noqa: E402
from lbi.use.evaluate import wilson  # noqa: E402

MODES = ("per-span", "batched")


def record(project: Project, lengths: list[int], per_length: int) -> list[dict[str, Any]]:
    """Explore rollouts of each length; returns the finished trajectories with their lengths."""
    for length in lengths:
        report = rollout(
            project, f"explore-L{length}", policy="explore", episodes=per_length, max_steps=length, concurrency=1
        )
        print(
            f"  recorded L={length}: {report.done} done, {report.failed} failed, {report.steps} steps "
            f"in {report.seconds:.1f}s",
            flush=True,
        )
    rows = project.store.query(
        "SELECT t.id, COUNT(s.id) AS steps FROM trajectories t JOIN steps s ON s.trajectory_id = t.id "
        "WHERE t.status = 'done' GROUP BY t.id ORDER BY t.id"
    )
    return [dict(r) for r in rows]


def usage(project: Project, run_id: int) -> dict[str, float]:
    row = project.store.query(
        "SELECT COUNT(*) AS calls, COALESCE(SUM(prompt_tokens), 0) AS prompt, "
        "COALESCE(SUM(completion_tokens), 0) AS completion, COALESCE(SUM(latency_ms), 0) / 1000.0 AS model_s, "
        "COALESCE(SUM(1 - ok), 0) AS errors, COALESCE(SUM(cache_hit), 0) AS cache_hits "
        "FROM llm_calls WHERE run_id = ?",
        (run_id,),
    )[0]
    return dict(row)


def measure_mode(
    project: Project, mode: str, trajectory_ids: list[int], sample: int = 0, seed: int = 0
) -> dict[str, Any]:
    """Label the trajectories' spans in `mode`; with `sample`, only that many spans of each trajectory, drawn
    uniformly (per-example figures stay unbiased estimates: each span costs the same whatever else is labelled
    in per-span mode)."""

    def choose(tid: int, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
        return sorted(random.Random(seed * 1000 + tid).sample(spans, min(sample, len(spans)))) if sample else spans

    with project.run(f"backward-{mode}", "backward", {"mode": mode, "sample": sample}) as run, timer() as t:
        run_id = run.id
        report = construct(
            project,
            trajectory_ids,
            mode=check_mode(mode),
            max_span=0,
            run_id=run_id,
            choose=choose,
            progress=lambda d, n: print(f"  {mode}: {d}/{n} trajectories", flush=True),
        )
    use = usage(project, run_id)
    return {
        "mode": mode,
        "run_id": run_id,
        "spans": report.spans,
        "examples": report.examples,
        "failed": report.failed,
        "wall_s": t["s"],
        **use,
        "failure_kinds": failure_kinds(project, run_id),
    }


def failure_kinds(project: Project, run_id: int) -> dict[str, int]:
    """How the run's recorded failures read, numbers blanked so alike ones count together."""
    rows = project.store.query("SELECT error FROM failures WHERE run_id = ?", (run_id,))
    return dict(Counter(re.sub(r"\d+", "N", error.split(" after ")[0].split(":")[0])[:70] for (error,) in rows))


def judge_sample(project: Project, mode: str, sample: int, seed: int) -> dict[str, Any]:
    ids = [r[0] for r in project.store.query("SELECT id FROM examples WHERE mode = ? ORDER BY id", (mode,))]
    chosen = sorted(random.Random(seed).sample(ids, min(sample, len(ids)))) if sample else ids
    with project.run(f"judge-{mode}", "filter", {"mode": mode, "sample": len(chosen)}) as run, timer() as t:
        run_id = run.id
        judge_examples(project, chosen, run_id=run_id)
    judges = len(project.config.models.judges)
    rows = {r["example_id"]: r for r in committee.decisions(project.store, "strict", judges)}
    majority = {r["example_id"]: r for r in committee.decisions(project.store, "majority", judges)}
    # every example judged counts: one missing a verdict (a judge's reply that failed to parse) is a no, as the
    # strict rule itself counts it (`lbi.store.committee._PASSES`); leaving it out would raise the rate
    incomplete = sum(rows[i]["n"] < judges for i in chosen)
    strict = sum(bool(rows[i]["passed"]) for i in chosen)
    major = sum(bool(majority[i]["passed"]) for i in chosen)
    use = usage(project, run_id)
    n = len(chosen) or 1
    return {
        "judged": len(chosen),
        "missing_verdict": incomplete,
        "accept_strict": strict / n,
        "accept_majority": major / n,
        "judge_calls": use["calls"],
        "judge_tokens": use["prompt"] + use["completion"],
        "judge_s": t["s"],
    }


def derive(row: dict[str, Any]) -> dict[str, Any]:
    examples = max(row["examples"], 1)
    tokens = row["prompt"] + row["completion"]
    kept = row["examples"] * row["accept_strict"]
    low, high = wilson(round(row["accept_strict"] * row["judged"]), row["judged"])
    return {
        **row,
        "tokens": tokens,
        "calls_per_example": row["calls"] / examples,
        "s_per_example": row["wall_s"] / examples,
        "accept_ci": f"[{low:.2f}, {high:.2f}]",
        "tokens_per_example": tokens / examples,
        "kept_est": kept,
        "calls_per_kept": row["calls"] / kept if kept else float("inf"),
        "tokens_per_kept": tokens / kept if kept else float("inf"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="local/smollm2", help="model of the backward constructor (and judges)")
    parser.add_argument("--judge-model", default="", help="model of the judges (default: --model)")
    parser.add_argument("--env", default="sql", choices=["sql", "trac"], help="environment to record in")
    parser.add_argument("--lengths", default="4,8", help="trajectory lengths, comma-separated (4-20)")
    parser.add_argument("--trajectories", type=int, default=1, help="trajectories per length")
    parser.add_argument(
        "--per-span-sample",
        type=int,
        default=0,
        help="per-span labels only this many spans of each trajectory, drawn uniformly (0: all); "
        "its per-example figures are then estimates, and the full 4-20 setting takes "
        "minutes instead of hours",
    )
    parser.add_argument(
        "--judge-sample", type=int, default=12, help="examples of each mode the committee judges (0: all)"
    )
    parser.add_argument("--port", type=int, default=BENCH_PORT, help="port of the embedded model server")
    parser.add_argument("--threads", type=int, default=0, help="llama.cpp threads (0: auto)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--project-dir", default="", help="keep the project here (default: a temp dir, removed)")
    args = parser.parse_args()
    lengths = [int(x) for x in args.lengths.split(",") if x.strip()]

    config = bench_config(args.model, port=args.port, threads=args.threads, judge_model=args.judge_model)
    config.env.name, config.env.options = args.env, env_options(args.env)  # sql: the Trac demo database
    config.synth.max_span = 0
    workdir = Path(args.project_dir) if args.project_dir else Path(tempfile.mkdtemp(prefix="lbi-bench-backward-"))
    project = init_project(workdir / "project", config)
    start_machine = machine()
    print(
        f"backward_cost: model={args.model} env={args.env} lengths={lengths} x{args.trajectories} "
        f"load={start_machine['loadavg']}",
        flush=True,
    )
    try:
        with local_model(config):
            trajectories = record(project, lengths, args.trajectories)
            ids = [t["id"] for t in trajectories]
            rows = []
            for mode in MODES:
                row = measure_mode(project, mode, ids, args.per_span_sample if mode == "per-span" else 0, args.seed)
                row.update(judge_sample(project, mode, args.judge_sample, args.seed))
                rows.append(derive(row))
    finally:
        if not args.project_dir:
            shutil.rmtree(workdir, ignore_errors=True)

    per, bat = rows

    def over(key: str) -> float:
        return per[key] / bat[key] if bat[key] and bat[key] != float("inf") else float("nan")

    keys = ("calls_per_example", "tokens_per_example", "calls_per_kept", "tokens_per_kept", "s_per_example")
    ratio = {
        "mode": "per-span ÷ batched",
        **{k: over(k) for k in keys},
        "accept_strict": bat["accept_strict"] - per["accept_strict"],
    }
    goals = {
        "calls_10x": ratio["calls_per_kept"] >= 10,
        "tokens_3x": ratio["tokens_per_kept"] >= 3,
        "acceptance_not_lower": bat["accept_strict"] >= per["accept_strict"],
    }
    columns = [
        "mode",
        "examples",
        "failed",
        "calls",
        "tokens",
        "wall_s",
        "calls_per_example",
        "tokens_per_example",
        "s_per_example",
        "judged",
        "missing_verdict",
        "accept_strict",
        "accept_ci",
        "accept_majority",
        "calls_per_kept",
        "tokens_per_kept",
    ]
    print()
    print(
        table(
            rows,
            columns,
            title=f"Backward construction on {len(ids)} trajectories "
            f"(lengths {[t['steps'] for t in trajectories]}), model {args.model}",
        )
    )
    print(
        table(
            [ratio],
            [
                "mode",
                "calls_per_example",
                "tokens_per_example",
                "calls_per_kept",
                "tokens_per_kept",
                "s_per_example",
                "accept_strict",
            ],
            title="Ratios (accept_strict: batched minus per-span)",
        )
    )
    for row in rows:
        print(f"{row['mode']} failures:", row["failure_kinds"] or "none")
    print("goals:", ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in goals.items()))
    path = write_result(
        "backward_cost",
        {
            "args": vars(args),
            "machine_at_start": start_machine,
            "trajectory_lengths": [t["steps"] for t in trajectories],
            "modes": rows,
            "ratio": ratio,
            "goals": goals,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
