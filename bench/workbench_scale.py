"""Workbench at scale: time to render each page with AppTest against a store of 100k examples.

The store is synthetic (see `common.build_synthetic_store`: written through `Store` methods, 4-step
trajectories whose every span is an example, three judges' verdicts). Pages are discovered from
`app.py`'s `st.navigation([...st.Page("pages/x.py")...])` list (else `pages/*.py`); each is rendered
through `app.py` with `switch_page`, as the workbench does, with `session_state["project_dir"]` set: a
first (cold) render and a second one (warm: Streamlit caches filled). Exceptions are reported, not hidden.

Goal (issue 7): < 2 s per page at 100k examples.

    .venv/bin/python bench/workbench_scale.py                       # 100k examples (store build ~5-10 min)
    .venv/bin/python bench/workbench_scale.py --examples 10000
    .venv/bin/python bench/workbench_scale.py --store /path/to/project   # an existing project instead
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
from common import ROOT, build_synthetic_store, machine, table, write_result  # noqa: E402


def discover_pages() -> list[str]:
    """Page files in navigation order, from app.py's st.Page(...) calls; else pages/*.py."""
    app = (ROOT / "app.py").read_text(encoding="utf-8")
    found = re.findall(r"st\.Page\(\s*[\"']([^\"']+\.py)[\"']", app)
    pages = [p for p in found if (ROOT / p).exists()]
    return pages or sorted(str(p.relative_to(ROOT)) for p in (ROOT / "pages").glob("*.py"))


def render(project_dir: Path, page: str, timeout: float) -> dict[str, Any]:
    """app.py's first run (it renders the default page), then this page twice: cold and warm."""
    from streamlit.testing.v1 import AppTest

    logging.getLogger("streamlit").setLevel(logging.ERROR)  # "missing ScriptRunContext" noise in bare mode
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    at.session_state["project_dir"] = str(project_dir)
    at.session_state["who"] = "bench"
    start = time.perf_counter()
    at.run()
    app_s = time.perf_counter() - start
    row: dict[str, Any] = {"page": page, "app_s": app_s}
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=100_000, help="size of the synthetic store")
    parser.add_argument("--store", default="", help="an existing project directory to use instead")
    parser.add_argument("--timeout", type=float, default=300.0, help="AppTest script timeout per render (s)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    start_machine = machine()
    pages = discover_pages()
    print(f"workbench_scale: pages {pages}, load={start_machine['loadavg']}", flush=True)
    tmp = None
    built: dict[str, Any] = {}
    if args.store:
        project_dir = Path(args.store)
    else:
        tmp = Path(tempfile.mkdtemp(prefix="lbi-bench-workbench-"))
        project_dir = tmp / "project"
        print(f"building a store of {args.examples:,} examples", flush=True)
        built = build_synthetic_store(project_dir, args.examples, seed=args.seed)
        print(f"built in {built['seconds']:.0f}s ({built['db_mb']:.0f} MB)", flush=True)
    try:
        rows = []
        for page in pages:
            row = render(project_dir, page, args.timeout)
            print(
                f"  {page}: cold {row.get('cold_s', float('nan')):.2f}s, warm {row.get('warm_s', float('nan')):.2f}s"
                + (f"  ERROR {row['error']}" if row.get("error") else ""),
                flush=True,
            )
            rows.append(row)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    for row in rows:
        row["under_2s"] = bool(row.get("cold_s", float("inf")) < 2 and not row.get("error"))
    print()
    print(
        table(
            rows,
            ["page", "app_s", "cold_s", "warm_s", "under_2s", "error"],
            title=f"Page render times (AppTest) with {built.get('examples', 'an existing store of')} examples",
        )
    )
    goal = all(r["under_2s"] for r in rows)
    print(f"goal < 2 s per page: {'met' if goal else 'NOT met'}")
    path = write_result(
        "workbench_scale",
        {"args": vars(args), "machine_at_start": start_machine, "store": built, "pages": rows, "goal_met": goal},
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
