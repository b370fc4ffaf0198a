"""The repo environment on the coding demo (semver 3.1.2's sdist, 26 bug-fix tasks): what an episode costs.

- snapshot: building the pristine snapshot (unpack, git commit, byte-compile, docs) cold, into an empty cache
  (`--cold` times), and warm, looking it up in a cache that holds it;
- reset: a fresh episode tree, pristine and with a task's start patch (the injected bug: the history is made
  again), with the trees in memory (/dev/shm, the default) and on disk (the system temp dir);
- command latency: one `bash(...)` step per kind of command (the sandbox, the report of cwd and changed files);
- check: the `tests` check of a task (a fresh tree, the diff applied, its fail_to_pass + pass_to_pass tests
  run), on the unpatched tree and after the reference fix;
- episodes per minute with the fake model: explore rollouts (5 commands each) at concurrency 1 and 2, and the
  held-out tasks evaluated with a scripted fake agent that replays each reference (reset, 2 steps, check).

    .venv/bin/python bench/repo_env.py                    # the demo (~3 min on 2 cores)
    .venv/bin/python bench/repo_env.py --repo other.tar.gz --skip-tasks   # any repository: reset and commands
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import bench_config, machine, percentile, table, write_result  # noqa: E402

from lbi.demos.coding import demo_tasks, ensure_sdist  # noqa: E402
from lbi.envs.repo.env import RepoEnv  # noqa: E402
from lbi.envs.repo.snapshot import ensure_snapshot, working_diff  # noqa: E402
from lbi.envs.tasks import Task, check_task  # noqa: E402

COMMANDS = {
    "true": "true",
    "ls": "ls -F",
    "grep": "grep -rn 'def bump' --include='*.py' . | head",
    "sed -n": "sed -n '1,40p' src/semver/version.py",
    "git status": "git status --short",
    "python3 -c": "python3 -c 'import sys; print(sys.version)'",
    "pytest (1 file)": "python3 -m pytest -q -p no:cacheprovider -o addopts='' tests/test_bump.py | tail -1",
}


def timed(fn: Callable[[], Any], n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def row(name: str, seconds: list[float], **extra: Any) -> dict[str, Any]:
    return {
        "what": name,
        "n": len(seconds),
        "p50 ms": 1000 * statistics.median(seconds),
        "p95 ms": 1000 * percentile(seconds, 0.95),
        "mean ms": 1000 * statistics.fmean(seconds),
        **extra,
    }


def bench_snapshot(repo: Path, work: Path, cold: int, n: int) -> list[dict[str, Any]]:
    """The snapshot built `cold` times, each into a cache of its own that holds nothing yet (the build itself),
    and looked up `n` times in a cache that holds it (what every env start after the first pays)."""
    builds, snap = [], None
    for k in range(cold):
        fresh = work / f"cold-cache-{k}"
        assert not fresh.exists()
        start = time.perf_counter()
        snap = ensure_snapshot(repo, fresh)
        builds.append(time.perf_counter() - start)
    assert snap is not None
    warm = timed(lambda: ensure_snapshot(repo, work / "cold-cache-0"), n)
    detail = f"{len(snap.meta.files)} files, {snap.meta.bytes / 1e6:.1f} MB"
    return [
        row("snapshot, cold (an empty cache: unpack, git commit, byte-compile, docs)", builds, detail=detail),
        row("snapshot, warm (already in the cache)", warm, detail=detail),
    ]


def bench_env(repo: Path, cache: Path, tasks: list[Task], n: int) -> list[dict[str, Any]]:
    rows = []
    for where, root in (("memory", None), ("disk", Path(tempfile.gettempdir()))):
        with RepoEnv(repo, cache_dir=cache, workdir_root=root) as env:
            rows.append(row(f"reset, pristine ({where})", timed(env.reset, n)))
            if tasks:
                task = tasks[0]
                rows.append(row(f"reset, with a start patch ({where})", timed(partial(env.reset, task), n)))
            if where == "memory":
                env.reset()
                for name, command in COMMANDS.items():
                    rows.append(row(f"bash: {name}", timed(partial(env.step, f"bash({command!r})"), n)))
                assert env.tree is not None  # reset made it
                rows.append(row("submit's git diff", timed(partial(working_diff, env.tree, env.base), n)))
    return rows


def bench_checks(env: RepoEnv, tasks: list[Task]) -> list[dict[str, Any]]:
    unpatched, fixed, ok = [], [], 0
    for task in tasks:
        obs = env.reset(task)
        start = time.perf_counter()
        before = check_task(task, env, obs)
        unpatched.append(time.perf_counter() - start)
        for action in task.reference:
            obs = env.step(action)
        start = time.perf_counter()
        after = check_task(task, env, obs)
        fixed.append(time.perf_counter() - start)
        ok += int(after.success and not before.success)
    tests = statistics.fmean(len(t.check.params["fail_to_pass"]) + len(t.check.params["pass_to_pass"]) for t in tasks)
    return [
        row("tests check, unpatched", unpatched, detail=f"{tests:.0f} tests per task on average"),
        row("tests check, reference fix", fixed, detail=f"{ok}/{len(tasks)} tasks: fail before, pass after"),
    ]


def bench_episodes(repo: Path, cache: Path, tasks: list[Task], workdir: Path, episodes: int) -> list[dict[str, Any]]:
    from lbi.docs.ingest import import_tasks
    from lbi.envs.tasks import save_tasks
    from lbi.models.fake import FakeModel
    from lbi.project import init_project
    from lbi.synth.rollout import rollout
    from lbi.use.evaluate import evaluate

    rows = []
    for workers in (1, 2):
        config = bench_config("fake")
        config.env.name, config.env.options = "repo", {"repo": str(repo), "cache_dir": str(cache)}
        project = init_project(workdir / f"explore-c{workers}", config)
        start = time.perf_counter()
        report = rollout(project, "walk", policy="explore", episodes=episodes, max_steps=5, concurrency=workers)
        seconds = time.perf_counter() - start
        rows.append(
            {
                "what": f"explore rollouts, concurrency {workers}",
                "episodes": report.done,
                "steps": report.steps,
                "seconds": seconds,
                "episodes/min": 60 * report.done / seconds,
                "steps/s": report.steps / seconds,
            }
        )
    if tasks:
        config = bench_config("fake")
        config.env.name, config.env.options = "repo", {"repo": str(repo), "cache_dir": str(cache)}
        project = init_project(workdir / "eval", config)
        save_tasks(tasks, workdir / "tasks.jsonl")
        import_tasks(project, workdir / "tasks.jsonl")
        script = {t.instruction: list(t.reference) for t in tasks}
        steps: dict[str, int] = {}

        def replay(messages: list[dict[str, Any]], schema: dict[str, Any] | None) -> str:
            task = next(i for i in script if f"Task: {i}\n" in messages[-1]["content"])
            k = steps[task] = steps.get(task, -1) + 1
            return json.dumps({"reasoning": "replay the reference", "action": script[task][k]})

        FakeModel.register_responder("act", replay)
        start = time.perf_counter()
        summary = evaluate(project, ["baseline"], run="replay").summaries["baseline"]
        seconds = time.perf_counter() - start
        rows.append(
            {
                "what": "eval: scripted agent replays each reference",
                "episodes": summary.n,
                "steps": 2 * summary.n,
                "seconds": seconds,
                "episodes/min": 60 * summary.n / seconds,
                "steps/s": 2 * summary.n / seconds,
                "solved": summary.successes,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, help="A repository (folder or archive); default: the coding demo.")
    parser.add_argument("-n", type=int, default=10, help="Repetitions of each reset and command.")
    parser.add_argument("--cold", type=int, default=3, help="Cold snapshot builds (each into an empty cache).")
    parser.add_argument("--episodes", type=int, default=8, help="Explore episodes per concurrency.")
    parser.add_argument("--skip-tasks", action="store_true", help="No tasks: reset and commands only.")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    repo = (args.repo or ensure_sdist()).resolve()
    with tempfile.TemporaryDirectory(prefix="lbi-bench-repo-") as tmp:
        work, cache = Path(tmp), Path(tmp) / "snapshots"
        tasks: list[Task] = []
        if not args.skip_tasks:
            with RepoEnv(repo, cache_dir=cache) as env:
                tasks = demo_tasks(env)
        env_rows = bench_snapshot(repo, work, args.cold, args.n) + bench_env(repo, cache, tasks, args.n)
        print(table(env_rows, ["what", "n", "p50 ms", "p95 ms", "mean ms", "detail"], title="\nrepo env"))
        check_rows = []
        if tasks:
            with RepoEnv(repo, cache_dir=cache) as env:
                check_rows = bench_checks(env, tasks)
            print(table(check_rows, ["what", "n", "p50 ms", "p95 ms", "mean ms", "detail"], title="checks"))
        episode_rows = bench_episodes(repo, cache, tasks, work, args.episodes)
        print(
            table(
                episode_rows,
                ["what", "episodes", "steps", "seconds", "episodes/min", "steps/s"],
                title="episodes with the fake model",
            )
        )
    path = write_result(
        "repo_env",
        {
            "args": {k: str(v) for k, v in vars(args).items()},
            "repo": str(repo),
            "env": env_rows,
            "checks": check_rows,
            "episodes": episode_rows,
            "tasks": len(tasks),
            "load_end": machine()["loadavg"],
        },
    )
    print(f"written {path}")


if __name__ == "__main__":
    main()
