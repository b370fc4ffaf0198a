"""Workbench at scale: curation (issue 28) and page renders (issue 7) against a store of 100k examples.

The store is synthetic (`common.fast_synthetic_store`: the rows `build_synthetic_store` makes, written a table at a
time with `Store.insert_many`; 4-step trajectories whose every span is an example, three judges, ≈80% kept). Parts
(`--parts`, default all, in this order):

- `queue`: building each review queue once (filtered out, judges disagree, one judge said no, a search), then the
  queue's next example — a keep/drop recorded (`Review.decide`) and the next example read as the page shows it
  (`read.example`: decision, span steps, verdicts, overrides, edits) — over `--decisions` decisions, p50/p95; and the
  same decision through the Review page under AppTest (a whole Streamlit rerun, rendering included). Goal ≤ 300 ms.
- `bulk`: a bulk decision over `--bulk` (10k) filtered-out examples: the preview, applying it (one override each,
  one batch), undoing it. Goal ≤ 5 s.
- `cluster`: `lbi curate cluster` as the workbench starts it, a background job (`lbi.jobs`), wall time from start to
  exit: `--method hashing` from scratch, and `minilm` reusing the vectors the committee's near-duplicate check stores
  (`example_vectors`). Those vectors are made first, timed apart (`embed_s`: MiniLM on the distinct instructions,
  what `lbi filter` has already paid in a real project); `--no-embed` leaves minilm out. Goal ≤ 2 min on 2 cores.
- `pages`: every page of `app.py`'s navigation rendered with AppTest (cold, then warm), as `session_state` sets the
  project. Goal (issue 7): < 2 s per page.

    .venv/bin/python bench/workbench_scale.py                          # 100k examples, every part
    .venv/bin/python bench/workbench_scale.py --examples 10000 --parts queue,bulk
    .venv/bin/python bench/workbench_scale.py --store /path/to/project     # an existing project instead
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("STREAMLIT_LOGGER_LEVEL", "error")  # "missing ScriptRunContext" noise in bare mode
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, fast_synthetic_store, machine, percentile, table, write_result  # noqa: E402

PARTS = ("queue", "bulk", "cluster", "pages")


def discover_pages() -> list[str]:
    """Page files in navigation order, from app.py's st.Page(...) calls; else pages/*.py."""
    app = (ROOT / "app.py").read_text(encoding="utf-8")
    found = re.findall(r"st\.Page\(\s*[\"']([^\"']+\.py)[\"']", app)
    pages = [p for p in found if (ROOT / p).exists()]
    return pages or sorted(str(p.relative_to(ROOT)) for p in (ROOT / "pages").glob("*.py"))


def _app(project_dir: Path, timeout: float):  # noqa: ANN202 - AppTest
    from streamlit.testing.v1 import AppTest

    logging.getLogger("streamlit").setLevel(logging.ERROR)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    at.session_state["project_dir"] = str(project_dir)
    at.session_state["who"] = "bench"
    return at


def render(project_dir: Path, page: str, timeout: float) -> dict[str, Any]:
    """app.py's first run (it renders the default page), then this page twice: cold and warm."""
    at = _app(project_dir, timeout)
    start = time.perf_counter()
    at.run()
    row: dict[str, Any] = {"page": page, "app_s": time.perf_counter() - start}
    for label in ("cold_s", "warm_s"):
        start = time.perf_counter()
        try:
            at.switch_page(page).run()
            row[label] = time.perf_counter() - start
        except RuntimeError as exc:  # AppTest raises RuntimeError on its script timeout
            row[label] = float("nan")
            row["error"] = f"{type(exc).__name__}: {str(exc)[:160]}"
            break
        if at.exception:
            row["error"] = "; ".join(str(e.value)[:160] for e in at.exception)
            break
    return row


def _stats(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": 1000 * percentile(values, 0.5),
        "p95_ms": 1000 * percentile(values, 0.95),
        "max_ms": 1000 * max(values) if values else float("nan"),
    }


def part_queue(project_dir: Path, decisions: int, timeout: float) -> dict[str, Any]:
    """Queue builds, then decide + next example through the library and through the page."""
    from lbi.curate.review import Review
    from lbi.project import open_project
    from lbi.store import read
    from lbi.store.queues import QueueSpec, queue_ids
    from lbi.synth import trust

    project = open_project(project_dir)
    store, judges = project.store, trust.voters(project.config)
    builds = []
    for spec in (
        QueueSpec(kind="filtered"),
        QueueSpec(kind="disagree"),
        QueueSpec(kind="one-no"),
        QueueSpec(kind="all", search="milestone"),
    ):
        start = time.perf_counter()
        ids = queue_ids(store, spec, judges)
        builds.append({"queue": spec.label(), "examples": len(ids), "build_s": time.perf_counter() - start})
        print(f"  queue {spec.label()}: {len(ids):,} examples in {builds[-1]['build_s']:.2f}s", flush=True)
    review = Review.open(store, QueueSpec(kind="filtered"), judges)
    library, reads = [], []
    for n in range(decisions):
        start = time.perf_counter()
        review.decide(store, "drop" if n % 2 else "keep", who="bench", note="bench")
        ex = read.example(store, review.current, policy="strict", judges=judges)  # type: ignore[arg-type]
        library.append(time.perf_counter() - start)
        assert ex is not None
        start = time.perf_counter()
        read.example(store, review.current, policy="strict", judges=judges)  # type: ignore[arg-type]
        reads.append(time.perf_counter() - start)
    for _ in range(decisions):
        review.undo(store, who="bench")
    page = []
    at = _app(project_dir, timeout)
    at.run()
    start = time.perf_counter()
    at.switch_page("pages/review.py").run()
    first_s = time.perf_counter() - start
    for n in range(min(decisions, 20)):
        start = time.perf_counter()
        at.button(key="rv_drop" if n % 2 else "rv_keep").click().run()
        page.append(time.perf_counter() - start)
        assert not at.exception, [e.value for e in at.exception]
    for _ in range(len(page)):
        at.button(key="rv_undo").click().run()
    decide, per_key = _stats(library), _stats(page)
    print(
        f"  decide + next example: p50 {decide['p50_ms']:.0f} ms, p95 {decide['p95_ms']:.0f} ms; the Review page's "
        f"rerun per key: p50 {per_key['p50_ms']:.0f} ms, p95 {per_key['p95_ms']:.0f} ms",
        flush=True,
    )
    return {
        "builds": builds,
        "decide_and_next": decide,
        "next_read": _stats(reads),
        "page_open_s": first_s,
        "page_decision": per_key,
    }


def part_bulk(project_dir: Path, size: int) -> dict[str, Any]:
    """Preview, apply and undo one bulk decision over `size` filtered-out examples."""
    from lbi.curate import bulk
    from lbi.project import open_project
    from lbi.store.queues import QueueSpec, queue_ids
    from lbi.synth import trust

    project = open_project(project_dir)
    store, judges = project.store, trust.voters(project.config)
    ids = queue_ids(store, QueueSpec(kind="filtered"), judges)[:size]
    out: dict[str, Any] = {"examples": len(ids)}
    start = time.perf_counter()
    plan = bulk.plan(store, ids, "keep", note="bench", policy="strict", judges=judges)
    out["preview_s"] = time.perf_counter() - start
    start = time.perf_counter()
    batch = bulk.apply(store, plan, who="bench")
    out["apply_s"] = time.perf_counter() - start
    out["recorded"] = store.query("SELECT COUNT(*) FROM overrides WHERE batch = ?", (batch,))[0][0]
    start = time.perf_counter()
    out["undone"] = bulk.undo(store, batch, who="bench")
    out["undo_s"] = time.perf_counter() - start
    out["preview_and_apply_s"] = out["preview_s"] + out["apply_s"]
    print(
        f"  bulk over {len(ids):,}: preview {out['preview_s']:.2f}s, apply {out['apply_s']:.2f}s, undo "
        f"{out['undo_s']:.2f}s",
        flush=True,
    )
    return out


def _job(project_dir: Path, args: list[str], name: str) -> dict[str, Any]:
    """Run `lbi ARGS` as a workbench background job; wall time from start to exit, and what it printed."""
    from lbi import jobs

    start = time.perf_counter()
    job = jobs.start(project_dir, args, name)
    while job.alive():
        time.sleep(0.5)
    wall = time.perf_counter() - start
    output = job.output()
    seconds = dict(
        re.findall(r"(\w+) ([\d.]+)", next((ln for ln in output.splitlines() if ln.startswith("seconds:")), ""))
    )
    return {
        "wall_s": wall,
        "exit": job.exit_code(),
        "inside_s": {k: float(v) for k, v in seconds.items()},
        "summary": " ".join(ln for ln in output.splitlines() if "examples (" in ln or "clusters" in ln)[:300],
    }


def part_cluster(project_dir: Path, embed_vectors: bool) -> dict[str, Any]:
    """The clustering job with hashing vectors, and with MiniLM vectors reused (made first, timed apart)."""
    out: dict[str, Any] = {}
    out["hashing"] = _job(project_dir, ["curate", "cluster", "--method", "hashing"], "cluster-hashing")
    print(f"  cluster (hashing) job: {out['hashing']['wall_s']:.1f}s wall; {out['hashing']['summary']}", flush=True)
    if not embed_vectors:
        return out
    import numpy as np

    from lbi.curate.clusters import normalise
    from lbi.models.embed import embed
    from lbi.project import open_project

    project = open_project(project_dir)
    model = project.config.models.embedder
    rows = project.store.query("SELECT id, instruction FROM examples ORDER BY id")
    texts = sorted({normalise(r[1]) for r in rows})
    embed(["warm up"], model)
    start = time.perf_counter()
    vectors: dict[str, np.ndarray] = {}
    for k in range(0, len(texts), 2048):
        part = texts[k : k + 2048]
        vectors.update(zip(part, embed(part, model), strict=True))
        done = min(k + 2048, len(texts))
        print(f"    embedded {done:,}/{len(texts):,} ({done / (time.perf_counter() - start):,.0f}/s)", flush=True)
    out["embed"] = {"texts": len(texts), "embed_s": time.perf_counter() - start}
    out["embed"]["texts_per_s"] = len(texts) / out["embed"]["embed_s"]
    start = time.perf_counter()
    project.store.set_vectors(
        (r[0], model, normalise(r[1]), np.asarray(vectors[normalise(r[1])], dtype=np.float32).tobytes()) for r in rows
    )
    out["embed"]["store_s"] = time.perf_counter() - start
    project.store.close()
    out["minilm_reused"] = _job(project_dir, ["curate", "cluster", "--method", "minilm"], "cluster-minilm")
    print(
        f"  cluster (minilm, vectors reused) job: {out['minilm_reused']['wall_s']:.1f}s wall; "
        f"{out['minilm_reused']['summary']}",
        flush=True,
    )
    out["minilm_cold_estimate_s"] = out["minilm_reused"]["wall_s"] + out["embed"]["embed_s"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=100_000, help="size of the synthetic store")
    parser.add_argument(
        "--store",
        default="",
        help="an existing project directory to use instead (it is written "
        "to: overrides are recorded and undone, clusters replaced)",
    )
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}")
    parser.add_argument("--decisions", type=int, default=50, help="queue decisions timed through the library")
    parser.add_argument("--bulk", type=int, default=10_000, help="examples in the bulk decision")
    parser.add_argument("--no-embed", action="store_true", help="cluster with hashing vectors only")
    parser.add_argument("--timeout", type=float, default=300.0, help="AppTest script timeout per render (s)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}; choose from {', '.join(PARTS)}")
    start_machine = machine()
    print(f"workbench_scale: parts {parts}, load={start_machine['loadavg']}", flush=True)
    tmp = None
    result: dict[str, Any] = {"args": vars(args), "machine_at_start": start_machine, "store": {}}
    if args.store:
        project_dir = Path(args.store)
    else:
        tmp = Path(tempfile.mkdtemp(prefix="lbi-bench-workbench-"))
        project_dir = tmp / "project"
        print(f"building a store of {args.examples:,} examples", flush=True)
        result["store"] = fast_synthetic_store(project_dir, args.examples, seed=args.seed)
        print(f"built in {result['store']['seconds']:.0f}s ({result['store']['db_mb']:.0f} MB)", flush=True)
    try:
        if "queue" in parts:
            result["queue"] = part_queue(project_dir, args.decisions, args.timeout)
        if "bulk" in parts:
            result["bulk"] = part_bulk(project_dir, args.bulk)
        if "cluster" in parts:
            result["cluster"] = part_cluster(project_dir, not args.no_embed)
        if "pages" in parts:
            rows = []
            for page in discover_pages():
                row = render(project_dir, page, args.timeout)
                print(
                    f"  {page}: cold {row.get('cold_s', float('nan')):.2f}s, warm "
                    f"{row.get('warm_s', float('nan')):.2f}s" + (f"  ERROR {row['error']}" if row.get("error") else ""),
                    flush=True,
                )
                row["under_2s"] = bool(row.get("cold_s", float("inf")) < 2 and not row.get("error"))
                rows.append(row)
            result["pages"] = rows
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    report(result)
    path = write_result("workbench_scale", result)
    print(f"wrote {path}")


def report(result: dict[str, Any]) -> None:
    """The tables, and each goal met or not."""
    n = result["store"].get("examples", "an existing store of")
    goals = {}
    if "queue" in result:
        q = result["queue"]
        print(table(q["builds"], ["queue", "examples", "build_s"], title=f"\nReview queues built once ({n} examples)"))
        rows = [
            {"what": "decide + next example (library)", **q["decide_and_next"]},
            {"what": "next example read alone", **q["next_read"]},
            {"what": "Review page rerun per key (AppTest)", **q["page_decision"]},
        ]
        print(table(rows, ["what", "n", "p50_ms", "p95_ms", "max_ms"], title="The queue's next example"))
        goals["next example ≤ 300 ms (p95, library)"] = q["decide_and_next"]["p95_ms"] <= 300
    if "bulk" in result:
        b = result["bulk"]
        print(table([b], ["examples", "preview_s", "apply_s", "undo_s", "recorded", "undone"], title="Bulk decision"))
        goals["bulk decision over 10k ≤ 5 s (preview + apply)"] = b["preview_and_apply_s"] <= 5
    if "cluster" in result:
        c = result["cluster"]
        rows = [{"job": "hashing", "wall_s": c["hashing"]["wall_s"], **c["hashing"]["inside_s"]}]
        if "minilm_reused" in c:
            rows.append(
                {
                    "job": "minilm, vectors reused",
                    "wall_s": c["minilm_reused"]["wall_s"],
                    **c["minilm_reused"]["inside_s"],
                }
            )
            print(
                f"MiniLM on {c['embed']['texts']:,} distinct instructions: {c['embed']['embed_s']:.0f}s "
                f"({c['embed']['texts_per_s']:.0f}/s) — what the committee's near-duplicate check has paid already"
            )
        print(
            table(
                rows,
                ["job", "wall_s", "read", "vectors", "cluster", "write", "total"],
                title="Clustering as a background job (seconds)",
            )
        )
        goals["clustering job ≤ 2 min (hashing)"] = c["hashing"]["wall_s"] <= 120
        if "minilm_reused" in c:
            goals["clustering job ≤ 2 min (minilm, vectors reused)"] = c["minilm_reused"]["wall_s"] <= 120
    if "pages" in result:
        print(
            table(
                result["pages"],
                ["page", "app_s", "cold_s", "warm_s", "under_2s", "error"],
                title=f"Page render times (AppTest) with {n} examples",
            )
        )
        goals["< 2 s per page (issue 7)"] = all(r["under_2s"] for r in result["pages"])
    for goal, met in goals.items():
        print(f"goal {goal}: {'met' if met else 'NOT met'}")
    result["goals"] = goals


if __name__ == "__main__":
    main()
