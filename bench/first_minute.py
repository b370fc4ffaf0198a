"""What a visitor sees first: the time line of `make run`'s synthesis on a cold demo project (issue 14).

Does what `make run` does, on a new demo project and the benchmark's model port: `lbi init --demo`, the embedded
model server, `lbi synthesize --background`; then reads the store every second and prints when each first
thing appeared, counted from the moment the background synthesis was started (`make run` starts the workbench
right after, and it answers a few seconds later, so these are the times a visitor waits, give or take those
seconds): the first recorded step, the first example (Backward page), the first verdict, the first example
every judge has judged (Committee page), and the first llm-rollout step. Stops the job after `--until`.

    .venv/bin/python bench/first_minute.py                 # until the first fully judged example (≤ 10 min)
    .venv/bin/python bench/first_minute.py --until llm     # until the llm agent's first step
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import BENCH_PORT, ROOT, machine, table, write_result  # noqa: E402

from lbi.config import save_config  # noqa: E402
from lbi.models import local_llm  # noqa: E402
from lbi.project import open_project  # noqa: E402

MILESTONES = {
    "first step": "SELECT COUNT(*) FROM steps",
    "first example": "SELECT COUNT(*) FROM examples",
    "first verdict": "SELECT COUNT(*) FROM verdicts",
    "first judged example": "SELECT COUNT(*) FROM (SELECT example_id FROM verdicts GROUP BY example_id "
    "HAVING COUNT(*) >= :judges)",
    "llm": "SELECT COUNT(*) FROM steps s JOIN trajectories t ON t.id = s.trajectory_id WHERE t.policy = 'llm'",
}


def lbi(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "lbi.cli", *args], check=True, cwd=ROOT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=BENCH_PORT)
    parser.add_argument("--until", choices=list(MILESTONES), default="first judged example")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    start_machine = machine()
    with tempfile.TemporaryDirectory() as tmp:
        demo = Path(tmp) / "demo"
        lbi("init", str(demo), "--demo")
        project = open_project(demo)
        project.config.local_model.port, project.config.local_model.threads = args.port, args.threads
        save_config(demo, project.config)
        cfg = open_project(demo).config
        local_llm.stop(cfg.local_model)
        served = time.perf_counter()
        lbi("llm", "serve", "-p", str(demo))
        served = time.perf_counter() - served
        t0 = time.perf_counter()
        lbi("synthesize", "-p", str(demo), "--background")
        seen: dict[str, float] = {}
        judges = len(cfg.models.judges)
        try:
            while time.perf_counter() - t0 < args.timeout and args.until not in seen:
                store = open_project(demo).store
                for name, sql in MILESTONES.items():
                    if name not in seen and store.query(sql, {"judges": judges})[0][0] > 0:
                        seen[name] = time.perf_counter() - t0
                        print(f"  {seen[name]:6.1f} s  {name}", flush=True)
                time.sleep(1)
        finally:
            stop_jobs(demo)
            local_llm.stop(cfg.local_model)
    rows = [{"milestone": m, "seconds": seen.get(m)} for m in MILESTONES]
    print(table(rows, title=f"cold `make run` synthesis (model server start {served:.1f} s, not counted)"))
    goals = {"first example": 60, "first judged example": 180}
    for name, goal in goals.items():
        got = seen.get(name)
        print(f"goal {name} <= {goal} s: {'met' if got is not None and got <= goal else 'not met'} ({got})")
    path = write_result(
        "first_minute",
        {
            "args": vars(args),
            "machine_start": start_machine,
            "machine_end": machine(),
            "server_start_s": served,
            "seconds": seen,
        },
    )
    print(f"wrote {path}")


def stop_jobs(demo: Path) -> None:
    """Stop the background synthesis: the process group of every run still marked running."""
    from lbi import jobs

    for row in open_project(demo).store.query("SELECT pid FROM runs WHERE status = 'running' AND pid IS NOT NULL"):
        jobs.stop(int(row[0]))


if __name__ == "__main__":
    main()
