"""Pipeline overhead: is synthesis bound by the model or by lbi + the environment?

Part 1 — zero model time: explore rollouts on the web demo (`trac`: Chromium + tracd) with the
deterministic fake model, at concurrency 1, 2 and 4 (worker processes, each with its own browser and
Trac): environment steps per second (whole run, worker start included), time per reset (restore Trac's
database + open the start page: first step's record time minus the trajectory's, minus that step's own
latency), and mean step latency.

Part 2 — the embedded model: one small `lbi synthesize` (docs → tasks → llm and explore rollouts →
backward → committee) with `local/smollm2` on the same environment: the share of wall time spent waiting
for the model (sum of `llm_calls.latency_ms` / wall; goal ≥ 90%) and kept examples per minute end to end,
per stage, and for the synthesis stages alone: the documentation is loaded and embedded once per project
(`docs`), so the goal is judged on the rest and the figure with the docs load is shown beside it.

    .venv/bin/python bench/pipeline_overhead.py                        # both parts (~10 min on 2 cores)
    .venv/bin/python bench/pipeline_overhead.py --skip-model           # part 1 only (~2 min)
    .venv/bin/python bench/pipeline_overhead.py --skip-zero            # part 2 only
    .venv/bin/python bench/pipeline_overhead.py --concurrency 1,2,4,8 --episodes 16
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH_PORT, bench_config, local_model, machine, table, write_result  # noqa: E402

from lbi.demos import env_options  # noqa: E402
from lbi.project import Project, init_project  # noqa: E402
from lbi.store import committee  # noqa: E402
from lbi.synth import trust  # noqa: E402
from lbi.synth.pipeline import STAGE_RUNS, SynthSizes, synthesize  # noqa: E402
from lbi.synth.rollout import rollout  # noqa: E402


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def reset_times(project: Project) -> list[float]:
    rows = project.store.query(
        "SELECT t.created_at AS began, s.created_at AS first, s.latency_ms FROM trajectories t "
        "JOIN steps s ON s.trajectory_id = t.id AND s.idx = 0"
    )
    return [_ts(r["first"]) - _ts(r["began"]) - r["latency_ms"] / 1000 for r in rows]


def zero_model(args: argparse.Namespace, workdir: Path) -> list[dict[str, Any]]:
    rows = []
    for workers in [int(x) for x in args.concurrency.split(",")]:
        config = bench_config("fake")
        config.env.name, config.env.options = args.env, env_options(args.env)
        project = init_project(workdir / f"fake-c{workers}", config)
        report = rollout(
            project,
            f"c{workers}",
            policy="explore",
            episodes=args.episodes,
            max_steps=args.max_steps,
            concurrency=workers,
        )
        resets = reset_times(project)
        latency = project.store.query("SELECT AVG(latency_ms), SUM(error IS NOT NULL) FROM steps")[0]
        row = {
            "concurrency": workers,
            "episodes": report.done + report.failed,
            "failed": report.failed,
            "steps": report.steps,
            "wall_s": report.seconds,
            "steps_per_s": report.steps / report.seconds,
            "reset_s_mean": sum(resets) / len(resets) if resets else float("nan"),
            "reset_s_max": max(resets) if resets else float("nan"),
            "step_latency_ms": latency[0] or 0.0,
            "step_errors": latency[1] or 0,
        }
        print(
            f"  concurrency {workers}: {row['steps_per_s']:.2f} steps/s, reset {row['reset_s_mean']:.2f}s", flush=True
        )
        rows.append(row)
        project.store.close()
    return rows


def with_model(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    config = bench_config(args.model, port=args.port, threads=args.threads)
    config.env.name, config.env.options = args.env, env_options(args.env)
    project = init_project(workdir / "model", config)
    sizes = SynthSizes(
        chunks=args.chunks,
        per_chunk=2,
        tasks=args.tasks,
        explore=args.explore,
        max_steps=args.model_steps,
        concurrency=1,
        mode=args.mode,
        max_span=3,
        seed=0,
    )

    def progress(label: str) -> contextlib.AbstractContextManager[Any]:
        print(f"  {label}", flush=True)
        return contextlib.nullcontext(lambda done, total: None)

    with local_model(config):
        start = time.perf_counter()
        report = synthesize(project, sizes, progress, name="bench")
        wall = time.perf_counter() - start
    usage = project.store.query(
        "SELECT COUNT(*), COALESCE(SUM(latency_ms), 0) / 1000.0, COALESCE(SUM(completion_tokens), 0) FROM llm_calls"
    )[0]
    model_by_run = {
        r[0]: r[1]
        for r in project.store.query(
            "SELECT r.name, SUM(c.latency_ms) / 1000.0 FROM llm_calls c JOIN runs r ON r.id = c.run_id GROUP BY r.name"
        )
    }
    stages = []
    for stage, seconds in report.seconds.items():
        model_s = model_by_run.get(f"bench-{STAGE_RUNS[stage]}", 0.0) if stage in STAGE_RUNS else 0.0
        stages.append(
            {
                "stage": stage,
                "wall_s": seconds,
                "model_s": model_s,
                "model_share": model_s / seconds if seconds else 0.0,
            }
        )
    by_purpose = [
        dict(r)
        for r in project.store.query(
            "SELECT COALESCE(purpose, role) AS purpose, COUNT(*) AS calls, "
            "ROUND(SUM(latency_ms) / 1000.0, 1) AS model_s FROM llm_calls GROUP BY 1 ORDER BY MIN(id)"
        )
    ]
    kept = committee.kept_count(project.store, config.synth.judge_policy, trust.voters(config))
    docs_s = report.seconds.get("docs", 0.0)
    pipeline_s = wall - docs_s
    row = {
        "model": args.model,
        "mode": args.mode,
        "wall_s": wall,
        "docs_s": docs_s,
        "pipeline_s": pipeline_s,
        "model_calls": usage[0],
        "model_s": usage[1],
        "model_share": usage[1] / wall,
        "model_share_after_docs": usage[1] / pipeline_s if pipeline_s else 0.0,
        "completion_tokens": usage[2],
        "examples": report.funnel.get("examples"),
        "kept": kept,
        "kept_per_min": kept / (wall / 60),
        "kept_per_min_after_docs": kept / (pipeline_s / 60),
        "funnel": report.funnel,
        "stages": stages,
        "by_purpose": by_purpose,
    }
    project.store.close()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="trac", help="environment (trac: the web demo)")
    parser.add_argument("--concurrency", default="1,2,4")
    parser.add_argument("--episodes", type=int, default=8, help="explore episodes per concurrency level")
    parser.add_argument("--max-steps", type=int, default=6)
    parser.add_argument("--skip-model", action="store_true", help="only the zero-model-time part")
    parser.add_argument("--skip-zero", action="store_true", help="only the embedded-model part")
    parser.add_argument("--model", default="local/smollm2")
    parser.add_argument("--chunks", type=int, default=2, help="part 2: doc chunks to generate tasks from")
    parser.add_argument("--tasks", type=int, default=2, help="part 2: tasks rolled out with the llm policy")
    parser.add_argument("--model-steps", type=int, default=4, help="part 2: step limit per rollout")
    parser.add_argument("--explore", type=int, default=1, help="part 2: explore episodes")
    parser.add_argument("--mode", default="per-span", choices=["per-span", "batched"], help="part 2: backward mode")
    parser.add_argument("--port", type=int, default=BENCH_PORT)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    start_machine = machine()
    print(f"pipeline_overhead: env {args.env}, load={start_machine['loadavg']}", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="lbi-bench-pipeline-"))
    try:
        rows = []
        if not args.skip_zero:
            print("part 1: fake model (zero model time)", flush=True)
            rows = zero_model(args, workdir)
        model_row = None if args.skip_model else with_model(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print()
    if rows:
        print(
            table(
                rows,
                [
                    "concurrency",
                    "episodes",
                    "failed",
                    "steps",
                    "wall_s",
                    "steps_per_s",
                    "reset_s_mean",
                    "reset_s_max",
                    "step_latency_ms",
                ],
                title=f"Rollouts on {args.env} with the fake model (explore, {args.max_steps} steps/episode)",
            )
        )
    if model_row:
        print(
            table(
                [model_row],
                [
                    "model",
                    "mode",
                    "wall_s",
                    "docs_s",
                    "model_calls",
                    "model_s",
                    "model_share",
                    "model_share_after_docs",
                    "examples",
                    "kept",
                    "kept_per_min",
                    "kept_per_min_after_docs",
                ],
                title="End to end with the embedded model (lbi synthesize)",
            )
        )
        print(table(model_row["stages"], title="By stage (docs: loading and embedding the documentation, once)"))
        print(table(model_row["by_purpose"], title="Model time by purpose"))
        share = model_row["model_share_after_docs"]
        print(
            f"goal model share >= 90% (synthesis stages, docs loaded): {'met' if share >= 0.9 else 'NOT met'} "
            f"({share:.1%}; {model_row['model_share']:.1%} with the one-off docs load)"
        )
    path = write_result(
        "pipeline_overhead",
        {"args": vars(args), "machine_at_start": start_machine, "zero_model": rows, "with_model": model_row},
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
