"""Small real stores for the read-side tests: one trajectory, examples on its spans, judges' verdicts."""

from lbi.project import Project


def trajectory(project: Project, n: int = 3, key: str = "r/explore-0") -> int:
    run = project.store.start_run("r", "rollout")
    tid, _ = project.store.begin_trajectory(key, run_id=run, policy="explore", env="sql")
    for i in range(n):
        project.store.add_step(
            tid,
            i,
            observation=f"obs {i}",
            action=f"execute_sql('SELECT {i}')",
            screenshot="missing.png" if i == 0 else None,
        )
    project.store.finish_trajectory(tid, status="done")
    return tid


def examples(project: Project, tid: int) -> dict[tuple[int, int], int]:
    spans = [(0, 0), (0, 1), (1, 2), (2, 2)]
    ids = project.store.add_examples(
        {
            "trajectory_id": tid,
            "span_start": i,
            "span_end": j,
            "mode": "per-span",
            "instruction": f"Find row {i} to {j} in the Items table",
        }
        for i, j in spans
    )
    return dict(zip(spans, ids, strict=True))


def judge(project: Project, example_id: int, *votes: bool) -> None:
    for name, vote in zip(("a", "b", "c"), votes, strict=False):
        project.store.set_verdict(example_id, name, vote, f"{name} says {vote}")
