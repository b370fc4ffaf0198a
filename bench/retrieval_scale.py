"""Retrieval at scale: synthetic stores of 10k and 100k examples, indexed and queried.

For each size: a project store is filled through `Store` methods with varied, plausible Trac-like
instructions, observations and actions (every span of 4-step trajectories is an example; verdicts of three
judges keep about 80%); `Index.sync()` builds the chromadb index with the real packaged embedder
(throughput in examples/s and texts/s); then agentic retrieval is timed without the model's query writing:
`Retriever.by_observation` + `Retriever.by_query` (examples and steps, one query embedding) + the budget fit with fixed
queries over stored observations — p50/p95 latency. Memory: RSS after indexing and the process peak.

Goal (issue 7): query p95 < 100 ms at 100k.

    .venv/bin/python bench/retrieval_scale.py                      # 10k and 100k (~20+ min on 2 cores)
    .venv/bin/python bench/retrieval_scale.py --sizes 2000 --queries 50   # quick look
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    build_synthetic_store,
    machine,
    peak_rss_mb,
    percentile,
    rss_mb,
    table,
    write_result,
)

from lbi.envs.base import Observation  # noqa: E402
from lbi.project import open_project  # noqa: E402
from lbi.use.index import Index  # noqa: E402
from lbi.use.retrieval import Retriever, fit_budget  # noqa: E402

QUERIES = [
    "create a new ticket with priority major",
    "close the ticket as fixed",
    "find open tickets owned by alice",
    "change the milestone of a ticket",
    "edit a wiki page",
    "sort the custom query by owner",
    "attach a file to a ticket",
    "open the roadmap",
]


def dir_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def run_size(n: int, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    where = workdir / f"store-{n}"
    reuse = args.reuse and (where / "index" / "chrome.json").exists()
    if reuse:  # a store and index from an earlier run with --workdir: time the queries only
        project = open_project(where)
        counts = project.store.counts()
        built = {
            "examples": counts["examples"],
            "steps": counts["steps"],
            "seconds": float("nan"),
            "db_mb": (where / "lbi.db").stat().st_size / 1e6,
        }
    else:
        print(f"size {n:,}: building the store", flush=True)
        built = build_synthetic_store(where, n, seed=args.seed)
        project = open_project(where)
    rss_before = rss_mb()
    print(
        f"size {n:,}: {built['examples']:,} examples, {built['steps']:,} steps in {built['seconds']:.0f}s; indexing",
        flush=True,
    )
    index = Index(project)
    start = time.perf_counter()
    report = index.sync()
    index_s = time.perf_counter() - start
    rss_after = rss_mb()
    texts = report.examples_added + report.steps_added + report.chunks_added
    print(f"size {n:,}: indexed {report.summary()} in {index_s:.0f}s; querying", flush=True)

    retriever = Retriever(project, "agentic", index=index)
    rng = random.Random(args.seed)
    steps = [
        dict(r)
        for r in project.store.query(
            "SELECT observation, url, state_signature FROM steps ORDER BY random() LIMIT ?", (args.queries + 10,)
        )
    ]
    parts: dict[str, list[float]] = {"by_observation": [], "by_query": [], "fit": [], "total": []}
    hits = 0
    for k, step in enumerate(steps):
        obs = Observation(text=step["observation"], url=step["url"], state_signature=step["state_signature"])
        query = rng.choice(QUERIES)
        t0 = time.perf_counter()
        by_obs = retriever.by_observation(obs)
        t1 = time.perf_counter()
        by_query = retriever.by_query(query)  # whole examples + single steps, one query embedding
        t2 = time.perf_counter()
        used, _ = fit_budget(by_obs + by_query, project.config.retrieval.token_budget)
        t3 = time.perf_counter()
        if k < 10:
            continue  # warm-up
        hits += len(used)
        for name, value in (("by_observation", t1 - t0), ("by_query", t2 - t1), ("fit", t3 - t2), ("total", t3 - t0)):
            parts[name].append(value * 1000)
    total = parts["total"]
    kept = index.counts()["examples"]
    row = {
        "examples": built["examples"],
        "steps": built["steps"],
        "kept": kept,
        "reused": reuse,
        "store_build_s": built["seconds"],
        "store_rows_per_s": built["examples"] / built["seconds"],
        "index_s": index_s if not reuse else float("nan"),
        "index_examples_per_s": report.examples_added / index_s if not reuse else float("nan"),
        "index_texts_per_s": texts / index_s if not reuse else float("nan"),
        "queries": len(total),
        "p50_ms": percentile(total, 0.5),
        "p95_ms": percentile(total, 0.95),
        "max_ms": max(total),
        "p50_by_observation_ms": percentile(parts["by_observation"], 0.5),
        "p50_by_query_ms": percentile(parts["by_query"], 0.5),
        "p50_fit_ms": percentile(parts["fit"], 0.5),
        "hits_per_query": hits / max(len(total), 1),
        "rss_before_index_mb": rss_before,
        "rss_after_index_mb": rss_after,
        "peak_rss_mb": peak_rss_mb(),
        "db_mb": built["db_mb"],
        "index_mb": dir_mb(index.path),
    }
    print(f"size {n:,}: p50 {row['p50_ms']:.1f} ms, p95 {row['p95_ms']:.1f} ms", flush=True)
    project.store.close()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="store sizes in examples, comma-separated")
    parser.add_argument("--queries", type=int, default=200, help="timed queries per size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", default="", help="keep the stores and indexes here (default: temp, removed)")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="with --workdir: reuse a store and index built there before and time the queries only",
    )
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="lbi-bench-retrieval-"))
    workdir.mkdir(parents=True, exist_ok=True)
    start_machine = machine()
    print(f"retrieval_scale: sizes {sizes}, load={start_machine['loadavg']}", flush=True)
    rows = []
    try:
        for n in sizes:
            rows.append(run_size(n, args, workdir))
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(
        table(
            rows,
            [
                "examples",
                "kept",
                "steps",
                "index_s",
                "index_examples_per_s",
                "index_texts_per_s",
                "queries",
                "p50_ms",
                "p95_ms",
                "max_ms",
                "rss_after_index_mb",
                "peak_rss_mb",
                "index_mb",
            ],
            title="Index build and agentic retrieval (no query writing) with all-MiniLM-L6-v2 + chromadb",
        )
    )
    print(
        table(
            rows,
            [
                "examples",
                "p50_by_observation_ms",
                "p50_by_query_ms",
                "p50_fit_ms",
                "hits_per_query",
                "store_build_s",
                "store_rows_per_s",
                "db_mb",
            ],
            title="Details",
        )
    )
    largest = rows[-1]
    goal = largest["p95_ms"] < 100
    print(f"goal p95 < 100 ms at {largest['examples']:,}: {'met' if goal else 'NOT met'}")
    path = write_result(
        "retrieval_scale",
        {"args": vars(args), "machine_at_start": start_machine, "rows": rows, "goal_met_at_largest": goal},
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
