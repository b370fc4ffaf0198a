"""Shared helpers of the benchmarks: machine facts, tables, JSON results, the embedded model on a
benchmark port, and synthetic stores of any size built through `lbi.store.Store` methods."""

from __future__ import annotations

import json
import os
import platform
import random
import resource
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # after PYTHONPATH: `PYTHONPATH=<another checkout>` measures that checkout

from lbi.config import Config, JudgeSpec  # noqa: E402
from lbi.store.db import Store  # noqa: E402

RESULTS = ROOT / "bench" / "results"
BENCH_PORT = 8790
"""Port of the embedded model server the benchmarks start (not the app's 8742, not the tests' 8797)."""


# -- machine and results -----------------------------------------------------------------------
def machine() -> dict[str, Any]:
    """What the figures depend on: cores, load average now, Python, the commit."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "cpus": os.cpu_count(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "commit": commit,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_result(name: str, data: dict[str, Any]) -> Path:
    """`bench/results/<name>.json` with the machine facts (load average at start and end) added."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"benchmark": name, "machine": machine(), **data}
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return ""
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        if value == float("inf"):
            return "inf"
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None, title: str = "") -> str:
    """A plain-text table (GitHub-markdown compatible)."""
    if not rows:
        return f"{title}\n(no rows)\n" if title else "(no rows)\n"
    columns = list(columns or rows[0].keys())
    cells = [[fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    line = "| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) + " |" for row in cells]
    return "\n".join(([title] if title else []) + [line, rule, *body]) + "\n"


def rss_mb() -> float:
    """Resident memory of this process now, in MB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


@contextmanager
def timer() -> Iterator[dict[str, float]]:
    out: dict[str, float] = {}
    start = time.perf_counter()
    try:
        yield out
    finally:
        out["s"] = time.perf_counter() - start


# -- models ------------------------------------------------------------------------------------
def bench_config(
    model: str, *, port: int = BENCH_PORT, threads: int = 0, cache: bool = False, judge_model: str = ""
) -> Config:
    """A config whose every role uses `model`, with the embedded server on the benchmark port."""
    config = Config(project="bench")
    config.models.default = model
    if judge_model:
        config.models.judges = [JudgeSpec(name=j.name, model=judge_model, focus=j.focus) for j in config.models.judges]
    config.local_model.port = port
    config.local_model.threads = threads
    config.llm.cache = cache
    return config


@contextmanager
def local_model(config: Config) -> Iterator[Any]:
    """Start the embedded model server on the config's port if any role needs it; stop it after,
    unless it was already running (then it is left as found)."""
    from lbi.models import local_llm

    models = [
        config.models.default,
        config.models.agent,
        config.models.backward,
        config.models.task_generator,
        *(j.model for j in config.models.judges),
    ]
    if not any(m.startswith("local/") for m in models if m):
        yield None
        return
    was_running = local_llm.status(config.local_model).running
    status = local_llm.ensure_running(config.local_model)
    try:
        yield status
    finally:
        if not was_running:
            local_llm.stop(config.local_model)


# -- synthetic stores --------------------------------------------------------------------------
VERBS = [
    "Create",
    "Close",
    "Reopen",
    "Find",
    "List",
    "Show",
    "Assign",
    "Rename",
    "Delete",
    "Update",
    "Search for",
    "Open",
    "Sort",
    "Filter",
    "Export",
    "Compare",
    "Attach a file to",
    "Comment on",
    "Change the priority of",
    "Set the milestone of",
]
OBJECTS = [
    "ticket",
    "milestone",
    "wiki page",
    "report",
    "component",
    "version",
    "query",
    "roadmap entry",
    "changeset",
    "attachment",
    "custom query",
    "timeline event",
    "user preference",
    "saved search",
]
QUALIFIERS = [
    "owned by {who}",
    "in component{n}",
    "for milestone{n}",
    "with priority {prio}",
    "reported by {who}",
    "created last week",
    "that mentions '{word}'",
    "with severity {prio}",
    "in version {n}.0",
    "sorted by {field}",
    "grouped by {field}",
    "that is still open",
    "closed as {res}",
]
WHO = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]
PRIO = ["blocker", "critical", "major", "minor", "trivial"]
FIELDS = ["owner", "priority", "status", "milestone", "component", "severity", "reporter", "summary"]
RES = ["fixed", "invalid", "wontfix", "duplicate", "worksforme"]
WORDS = ["crash", "login", "timeout", "save", "export", "unicode", "slow", "layout", "search", "email", "upload"]
PAGES = [
    "/ticket/{n}",
    "/query?status=!closed&owner={who}",
    "/milestone/milestone{m}",
    "/wiki/Page{n}",
    "/report/{m}",
    "/roadmap",
    "/timeline",
    "/newticket",
    "/admin/ticket/components",
    "/search?q={word}",
]


def _fill(rng: random.Random, text: str) -> str:
    return text.format(
        who=rng.choice(WHO),
        n=rng.randint(1, 400),
        m=rng.randint(1, 9),
        prio=rng.choice(PRIO),
        field=rng.choice(FIELDS),
        word=rng.choice(WORDS),
        res=rng.choice(RES),
    )


def instruction(rng: random.Random) -> str:
    quals = " ".join(_fill(rng, q) for q in rng.sample(QUALIFIERS, rng.randint(0, 2)))
    return " ".join(f"{rng.choice(VERBS)} the {rng.choice(OBJECTS)} {quals}".split())


# The navigation every real Trac page begins with, as the web env renders it: ~700 characters of chrome.
_META_NAV = [
    ("Login", "/login"),
    ("Preferences", "/prefs"),
    ("Help/Guide", "/wiki/TracGuide"),
    ("About Trac", "/about"),
]
_MAIN_NAV = [
    ("Wiki", "/wiki"),
    ("Timeline", "/timeline"),
    ("Roadmap", "/roadmap"),
    ("View Tickets", "/report"),
    ("New Ticket", "/newticket"),
    ("Search", "/search"),
    ("Admin", "/admin"),
]


def _nav_list(links: list[tuple[str, str]], first_bid: int) -> str:
    return "list\n" + "".join(
        f'  listitem\n    [{first_bid + n}] link "{name}" url="{url}"\n' for n, (name, url) in enumerate(links)
    )


TRAC_CHROME = (
    'heading level=1\n  [1] link "LBI Demo"\nform\n  [proj-search] textbox "Search:" value=""\n'
    '  [2] button "Search"\n' + _nav_list(_META_NAV, 3) + _nav_list(_MAIN_NAV, 3 + len(_META_NAV))
)


def observation(rng: random.Random, url: str) -> str:
    """A plausible accessibility-tree outline of a Trac page: the real navigation, then varied ids, names
    and values."""
    lines = [
        TRAC_CHROME.rstrip("\n"),
        f'[{rng.randint(1, 9)}] banner "LBI Demo"',
        f'[{rng.randint(10, 30)}] navigation "Main"',
    ]
    for _ in range(rng.randint(4, 10)):
        kind = rng.choice(["link", "button", "textbox", "combobox", "cell", "heading", "checkbox"])
        name = _fill(
            rng,
            rng.choice(
                [
                    "#{n} {word} in component{n}",
                    "{who}",
                    "{prio}",
                    "milestone{m}",
                    "Sort by {field}",
                    "Page{n}",
                    "{res}",
                    "Save changes",
                    "Preview",
                ]
            ),
        )
        lines.append(f'[{rng.randint(31, 999)}] {kind} "{name}"')
    return f"URL: {url}\n" + "\n".join(lines)


def action(rng: random.Random) -> str:
    bid = rng.randint(10, 999)
    return rng.choice(
        [
            f"click('{bid}')",
            f"fill('{bid}', '{rng.choice(WORDS)}')",
            f"select_option('{bid}', '{rng.choice(PRIO)}')",
            f"goto('{_fill(rng, rng.choice(PAGES))}')",
            "go_back()",
            f"press('{bid}', 'Enter')",
            "scroll(0, 500)",
        ]
    )


def build_synthetic_store(
    project_dir: Path,
    n_examples: int,
    *,
    steps_per_trajectory: int = 4,
    keep_share: float = 0.8,
    judges: Sequence[str] = ("accomplishment", "instruction", "efficiency"),
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """A project store with `n_examples` examples on trajectories of `steps_per_trajectory` steps (every span
    of each trajectory is an example), with verdicts from every judge so about `keep_share` are kept
    (strict policy), all written through `Store` methods. Returns counts and seconds."""
    from lbi.project import init_project

    config = Config(project=f"synthetic-{n_examples}")
    config.models.default = "fake"
    config.models.judges = [JudgeSpec(name=j, focus=j) for j in judges]  # the committee whose verdicts it writes
    project = init_project(project_dir, config)
    store: Store = project.store
    rng = random.Random(seed)
    spans = [(i, j) for i in range(steps_per_trajectory) for j in range(i, steps_per_trajectory)]
    started = time.perf_counter()
    made = trajectories = steps = 0
    with project.run("synthetic", "rollout", {"n_examples": n_examples}) as run:
        run_id = run.id
        while made < n_examples:
            tid, _ = store.begin_trajectory(
                f"synthetic/{trajectories}",
                run_id=run_id,
                policy="explore",
                env="trac",
                instruction=instruction(rng),
                model="fake",
            )
            for idx in range(steps_per_trajectory):
                url = "http://127.0.0.1:8000" + _fill(rng, rng.choice(PAGES))
                store.add_step(
                    tid,
                    idx,
                    observation=observation(rng, url),
                    action=action(rng),
                    url=url,
                    state_signature=url.split("?")[0].rsplit("/", 1)[0] + " | " + rng.choice(OBJECTS),
                    reasoning="explore",
                    latency_ms=rng.uniform(100, 400),
                )
                steps += 1
            store.finish_trajectory(tid, status="done", final={"observation": "done", "url": url})
            batch = spans[: n_examples - made]
            ids = store.add_examples(
                {
                    "trajectory_id": tid,
                    "span_start": i,
                    "span_end": j,
                    "instruction": instruction(rng),
                    "mode": "batched",
                    "model": "fake",
                    "run_id": run_id,
                }
                for i, j in batch
            )
            for example_id in ids:
                keep = rng.random() < keep_share
                for k, judge in enumerate(judges):
                    verdict = keep or (k != len(judges) - 1 and rng.random() < 0.5)
                    store.set_verdict(example_id, judge, verdict, "synthetic verdict", model="fake", run_id=run_id)
            made += len(ids)
            trajectories += 1
            if progress and trajectories % 500 == 0:
                rate = made / (time.perf_counter() - started)
                print(f"  store: {made:,}/{n_examples:,} examples ({rate:,.0f}/s)", flush=True)
        run.progress(trajectories, trajectories)
    return {
        "examples": made,
        "trajectories": trajectories,
        "steps": steps,
        "seconds": time.perf_counter() - started,
        "db_mb": store.path.stat().st_size / 1e6,
    }


def fast_synthetic_store(
    project_dir: Path,
    n_examples: int,
    *,
    steps_per_trajectory: int = 4,
    keep_share: float = 0.8,
    judges: Sequence[str] = ("accomplishment", "instruction", "efficiency"),
    seed: int = 0,
    chunk: int = 20_000,
) -> dict[str, Any]:
    """The store `build_synthetic_store` makes (same rows, same mix of verdicts), written a table at a time with
    `Store.insert_many` (executemany, `chunk` rows per transaction) instead of one transaction per row: 100k
    examples in about a minute instead of 5-10. Returns counts and seconds."""
    from lbi.project import init_project
    from lbi.store.db import now

    config = Config(project=f"synthetic-{n_examples}")
    config.models.default = "fake"
    config.models.judges = [JudgeSpec(name=j, focus=j) for j in judges]  # the committee whose verdicts it writes
    project = init_project(project_dir, config)
    store: Store = project.store
    rng = random.Random(seed)
    spans = [(i, j) for i in range(steps_per_trajectory) for j in range(i, steps_per_trajectory)]
    started = time.perf_counter()
    run_id = store.start_run("synthetic", "rollout", {"n_examples": n_examples})
    at = now()
    trajectories: list[dict[str, Any]] = []
    steps: list[dict[str, Any]] = []
    examples: list[dict[str, Any]] = []
    verdicts: list[dict[str, Any]] = []
    made = n_traj = 0

    def flush() -> None:
        for table, rows in (
            ("trajectories", trajectories),
            ("steps", steps),
            ("examples", examples),
            ("verdicts", verdicts),
        ):
            store.insert_many(table, rows)
            rows.clear()

    while made < n_examples:
        n_traj += 1
        tid = n_traj
        url = ""
        for idx in range(steps_per_trajectory):
            url = "http://127.0.0.1:8000" + _fill(rng, rng.choice(PAGES))
            steps.append(
                {
                    "trajectory_id": tid,
                    "idx": idx,
                    "observation": observation(rng, url),
                    "action": action(rng),
                    "url": url,
                    "state_signature": url.split("?")[0].rsplit("/", 1)[0] + " | " + rng.choice(OBJECTS),
                    "reasoning": "explore",
                    "latency_ms": rng.uniform(100, 400),
                    "created_at": at,
                }
            )
        trajectories.append(
            {
                "id": tid,
                "run_id": run_id,
                "key": f"synthetic/{tid}",
                "instruction": instruction(rng),
                "policy": "explore",
                "env": "trac",
                "model": "fake",
                "status": "done",
                "created_at": at,
                "finished_at": at,
                "final_observation": "done",
                "final_url": url,
            }
        )
        for i, j in spans[: n_examples - made]:
            made += 1
            examples.append(
                {
                    "id": made,
                    "trajectory_id": tid,
                    "span_start": i,
                    "span_end": j,
                    "instruction": instruction(rng),
                    "mode": "batched",
                    "model": "fake",
                    "run_id": run_id,
                    "created_at": at,
                }
            )
            keep = rng.random() < keep_share
            for k, judge in enumerate(judges):
                verdicts.append(
                    {
                        "example_id": made,
                        "judge": judge,
                        "verdict": int(keep or (k != len(judges) - 1 and rng.random() < 0.5)),
                        "reason": "synthetic verdict",
                        "model": "fake",
                        "run_id": run_id,
                        "created_at": at,
                    }
                )
        if len(examples) >= chunk:
            flush()
    flush()
    store.update_run(run_id, done=n_traj, total=n_traj, status="done")
    return {
        "examples": made,
        "trajectories": n_traj,
        "steps": n_traj * steps_per_trajectory,
        "seconds": time.perf_counter() - started,
        "db_mb": store.path.stat().st_size / 1e6,
    }
