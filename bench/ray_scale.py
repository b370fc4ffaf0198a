"""Ray scale-out: explore episodes per minute with the deterministic model on the SQL and Trac envs, on the
local executor at 1 worker and on a Ray cluster started in this process at 1, 2 and 4 workers.

Goal: Ray at 1 worker within 10% of the local executor. Reported per row: episodes/minute over the whole
rollout call (actor start and env start included) and in steady state (between the first and the last episode
finished), per-worker efficiency (steady rate / (workers × Ray@1's steady rate)), and per episode: wall time,
CPU seconds of the actor and its children (browser, Trac) and model seconds. The model: W workers on C cores
give min(W / wall, C / cpu, 1 / driver) episodes per second, where `driver` is the driver's CPU per episode
(the store's only writer; its own process, not the in-process cluster under it); printed for this machine and
for N machines of 2 cores. The load average is recorded with every row: this machine has 2 cores and other
work runs beside the benchmark.

    .venv/bin/python bench/ray_scale.py                          # sql and trac, 1,2,4 workers
    .venv/bin/python bench/ray_scale.py --envs sql --episodes 40 --model fake/latency-0.2 --policy llm
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import bench_config, table, write_result  # noqa: E402

from lbi.cluster.session import connect, disconnect, prepare_environment  # noqa: E402

prepare_environment("")  # before Ray is imported: the in-process cluster talks over loopback
from lbi.cluster.episodes import tree_cpu  # noqa: E402
from lbi.demos import env_options  # noqa: E402
from lbi.project import Project, init_project  # noqa: E402
from lbi.synth.rollout import rollout  # noqa: E402


def run_cpu() -> float:
    """CPU seconds of this process and every process it started, ended ones included (a local run's browser
    and Trac end with it: `tree_cpu` sees only the living)."""
    me = psutil.Process().cpu_times()
    return me.user + me.system + me.children_user + me.children_system + tree_cpu() - own_cpu()


def own_cpu() -> float:
    """CPU seconds of this process alone (the driver: the store's only writer)."""
    return sum(psutil.Process().cpu_times()[:2])


def steady_rate(project: Project, run: str) -> float:
    """Episodes per minute between the first and the last finished episode of `run`."""
    times = sorted(
        datetime.fromisoformat(r[0]).timestamp()
        for r in project.store.query(
            "SELECT t.finished_at FROM trajectories t JOIN runs r ON r.id = t.run_id WHERE r.name = ? "
            "AND t.finished_at IS NOT NULL",
            (run,),
        )
    )
    return 60 * (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else float("nan")


def one(
    args: argparse.Namespace, env: str, executor: Literal["local", "ray"], workers: int, workdir: Path
) -> dict[str, Any]:
    config = bench_config(args.model)
    config.env.name, config.env.options = env, env_options(env)
    config.synth.executor = executor
    config.ray.workers = workers
    project = init_project(workdir / f"{env}-{executor}-{workers}", config)
    if args.policy == "llm":  # every step a model call (explore walks on SQL call none)
        project.store.add_tasks(
            [
                {
                    "id": f"t{k}",
                    "instruction": f"Task {k}: find what the data says.",
                    "env": env,
                    "split": "synthetic",
                    "spec_json": {},
                }
                for k in range(args.episodes)
            ]
        )
    load = os.getloadavg()[0]
    cpu, own = run_cpu(), own_cpu()
    started = time.perf_counter()
    report = rollout(
        project, "bench", policy=args.policy, episodes=args.episodes, max_steps=args.max_steps, concurrency=workers
    )
    wall = time.perf_counter() - started
    tree, driver_cpu = run_cpu() - cpu, own_cpu() - own  # this process's children include an in-process cluster
    n = report.done + report.failed
    row = {
        "env": env,
        "executor": executor,
        "workers": workers,
        "episodes": n,
        "failed": report.failed,
        "ep/min run": 60 * n / wall,
        "ep/min steady": steady_rate(project, "bench"),
        "load 1m": load,
    }
    if report.ray is not None:
        stats = report.ray
        row |= {
            "wall/ep s": stats.wall_s / max(1, stats.episodes),
            "cpu/ep s": stats.cpu_s / max(1, stats.episodes),
            "model/ep s": stats.model_s / max(1, stats.episodes),
            "driver cpu/ep s": driver_cpu / max(1, n),
        }
    else:
        model = project.store.query("SELECT COALESCE(SUM(latency_ms), 0) / 1000.0 FROM llm_calls")[0][0]
        row |= {"wall/ep s": wall / max(1, n), "cpu/ep s": tree / max(1, n), "model/ep s": model / max(1, n)}
    return row


def model(rows: list[dict[str, Any]], cores: int) -> list[dict[str, Any]]:
    """Throughput predicted from Ray@1's per-episode figures: min(W / wall, C / cpu, 1 / driver)."""
    out = []
    for env in sorted({r["env"] for r in rows}):
        base = next((r for r in rows if r["env"] == env and r["executor"] == "ray" and r["workers"] == 1), None)
        if base is None:
            continue
        for machines in (1, 2, 4, 8):
            for workers in (1, 2, 4) if machines == 1 else (2 * machines,):
                caps = {
                    "workers": 60 * workers / base["wall/ep s"],
                    "cores": 60 * cores * machines / max(base["cpu/ep s"], 1e-6),
                    "driver": 60 / max(base["driver cpu/ep s"], 1e-6),
                }
                limit = min(caps, key=caps.__getitem__)
                measured = next(
                    (
                        r["ep/min steady"]
                        for r in rows
                        if r["env"] == env and r["executor"] == "ray" and r["workers"] == workers and machines == 1
                    ),
                    None,
                )
                out.append(
                    {
                        "env": env,
                        "machines": machines,
                        "workers": workers,
                        "predicted ep/min": caps[limit],
                        "bound by": limit,
                        "measured ep/min": measured,
                    }
                )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", default="sql,trac")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--episodes", type=int, default=0, help="per row (0: 24 for sql, 8 for trac)")
    parser.add_argument("--max-steps", type=int, default=4)
    parser.add_argument("--model", default="fake", help="fake/latency-S: each model call takes S s, as a remote one")
    parser.add_argument(
        "--policy",
        default="explore",
        choices=["explore", "llm"],
        help="llm: one synthetic task per episode, a model call every step",
    )
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="lbi-ray-bench-") as tmp:
        workers = [int(w) for w in args.workers.split(",")]
        try:
            for env in args.envs.split(","):
                episodes = args.episodes or (24 if env == "sql" else 8)
                sized = argparse.Namespace(**{**vars(args), "episodes": episodes})
                rows.append(one(sized, env, "local", 1, Path(tmp)))
                connect(bench_config(args.model), max(workers))  # once: cluster start is not an episode's cost
                for w in workers:
                    rows.append(one(sized, env, "ray", w, Path(tmp)))
                    print(table(rows[-1:]), flush=True)
        finally:
            disconnect()
    for env in {r["env"] for r in rows}:
        local = next(r for r in rows if r["env"] == env and r["executor"] == "local")
        ray1 = next((r for r in rows if r["env"] == env and r["executor"] == "ray" and r["workers"] == 1), None)
        for r in rows:
            if r["env"] == env and r["executor"] == "ray" and ray1:
                r["efficiency"] = r["ep/min steady"] / (r["workers"] * ray1["ep/min steady"])
        if ray1:
            ray1["vs local"] = ray1["ep/min steady"] / local["ep/min steady"]
    print(table(rows, title=f"episodes per minute ({args.policy}, {args.model})"))
    predicted = model(rows, os.cpu_count() or 2)
    print(table(predicted, title="throughput model: min(W / wall, cores / cpu, 1 / driver cpu) per episode"))
    result = {"rows": rows, "model": predicted, "args": vars(args)}
    print(f"results: {write_result(f'ray_scale_{args.policy}', result)}")


if __name__ == "__main__":
    main()
