"""lbi.store.read: the read-only shapes the CLI and the pages draw, on a real store."""

from pathlib import Path

from lbi.project import Project
from lbi.store import committee, read, spans
from lbi.use.evaluate import heldout_tasks
from tests.store.fixtures import examples, judge, trajectory


def test_span_grid_marks_each_span_by_status(project: Project) -> None:
    tid = trajectory(project)
    ids = examples(project, tid)
    judge(project, ids[(0, 0)], True, True, True)
    judge(project, ids[(0, 1)], True, False, True)
    judge(project, ids[(1, 2)], False, False, False)
    project.store.add_override(ids[(1, 2)], "keep", who="ana", note="fine after all")
    grid = spans.span_grid(project.store, tid, policy="strict", judges=3)
    assert grid.length == 3 and grid.mode == "per-span"
    assert grid.status == [
        [spans.KEPT, spans.DROPPED, spans.NO_EXAMPLE],
        [None, spans.NO_EXAMPLE, spans.OVERRIDDEN],
        [None, None, spans.EXAMPLE],
    ]
    assert grid.example_ids[0][1] == ids[(0, 1)]
    assert grid.instructions[2][2] == "Find row 2 to 2 in the Items table"
    assert grid.counts() == {"no example": 2, "example (not judged)": 1, "kept": 1, "dropped": 1, "overridden": 1}
    relaxed = spans.span_grid(project.store, tid, policy="relaxed", judges=3)
    assert relaxed.status[0][1] == spans.KEPT


def test_span_grid_of_a_trajectory_without_examples(project: Project) -> None:
    tid = trajectory(project, n=2)
    grid = spans.span_grid(project.store, tid)
    assert grid.mode is None and grid.status == [[0, 0], [None, 0]]


def test_example_detail_has_span_steps_verdicts_overrides_and_edits(project: Project) -> None:
    tid = trajectory(project)
    ids = examples(project, tid)
    judge(project, ids[(1, 2)], True, True, True)
    project.store.edit_example(ids[(1, 2)], "Count the rows", who="ana")
    project.store.add_override(ids[(1, 2)], "drop", who="bo", note="too vague")
    ex = read.example(project.store, ids[(1, 2)], policy="strict", judges=3)
    assert ex is not None
    assert [s["idx"] for s in ex["steps"]] == [1, 2]
    assert ex["instruction"] == "Count the rows" and ex["edits"][0]["who"] == "ana"
    assert ex["overrides"][0]["note"] == "too vague"
    assert ex["decision"]["kept"] == 0 and len(ex["verdicts"]) == 3
    assert read.example(project.store, 9999) is None


def test_trajectory_list_and_detail(project: Project) -> None:
    tid = trajectory(project)
    examples(project, tid)
    rows = read.trajectories(project.store, run="r", status="done", policy="explore")
    assert [(r["id"], r["steps"], r["examples"], r["run"]) for r in rows] == [(tid, 3, 4, "r")]
    assert read.trajectories(project.store, policy="llm") == []
    traj = read.trajectory(project.store, tid)
    assert traj is not None and [s["action"] for s in traj["steps"]][0] == "execute_sql('SELECT 0')"
    assert read.trajectory(project.store, 12345) is None


def test_screenshot_file_only_when_it_exists(tmp_path: Path) -> None:
    (tmp_path / "shots").mkdir()
    (tmp_path / "shots" / "a.png").write_bytes(b"png")
    assert read.screenshot_file("shots/a.png", tmp_path) == tmp_path / "shots" / "a.png"
    assert read.screenshot_file(str(tmp_path / "shots" / "a.png"), Path("/elsewhere")) is not None
    assert read.screenshot_file("shots/gone.png", tmp_path) is None
    assert read.screenshot_file(None, tmp_path) is None


def test_search_examples_by_substring_and_filters(project: Project) -> None:
    tid = trajectory(project)
    ids = examples(project, tid)
    for ex in ids.values():
        judge(project, ex, True, True, True)
    hits = read.search_examples(project.store, judges=3, search="ROW 0 TO")
    assert sorted(r["id"] for r in hits) == [ids[(0, 0)], ids[(0, 1)]]
    assert read.search_examples(project.store, judges=3, mode="batched") == []
    assert len(read.search_examples(project.store, judges=3, env="sql", run="r")) == 4
    project.store.add_override(ids[(0, 0)], "drop", who="ana")
    assert ids[(0, 0)] not in [r["id"] for r in read.search_examples(project.store, judges=3)]
    every = read.search_examples(project.store, judges=3, kept_only=False)
    assert len(every) == 4 and sum(r["kept"] for r in every) == 3
    assert read.dataset_filters(project.store) == {"mode": ["per-span"], "env": ["sql"], "run": ["r"]}


def test_documents_chunks_tasks_and_runs(project: Project) -> None:
    project.store.add_document(
        {"id": "d1", "source": "a.md", "title": "A", "format": "md", "text": "hello"},
        [{"id": "c1", "doc_id": "d1", "ordinal": 0, "title": "A", "text": "hello"}],
    )
    project.store.add_tasks(
        [
            {"id": "t1", "instruction": "Show Items", "env": "sql", "chunk_id": "c1"},
            {"id": "t2", "instruction": "held", "env": "sql", "split": "heldout"},
        ]
    )
    assert read.documents(project.store)[0]["chunks"] == 1
    assert read.chunks(project.store, "d1")[0]["tasks"] == 1
    assert [t["id"] for t in read.task_rows(project.store, "heldout")] == ["t2"]
    assert [t["id"] for t in read.task_rows(project.store, search="items")] == ["t1"]
    run = project.store.start_run("g", "generate")
    project.store.update_run(run, done=1, total=4)
    assert read.active_runs(project.store)[0]["name"] == "g"
    assert read.runs_table(project.store)[0]["progress"] == 0.25
    assert read.run_names(project.store, "generate") == ["g"]
    assert committee.POLICIES == ("strict", "majority", "relaxed")


def test_heldout_tasks_of_an_env_and_the_examples_of_trajectories(project: Project) -> None:
    project.store.add_tasks(
        [
            {"id": "t2", "instruction": "held b", "env": "sql", "split": "heldout"},
            {"id": "t1", "instruction": "held a", "env": "sql", "split": "heldout"},
            {"id": "t3", "instruction": "elsewhere", "env": "web", "split": "heldout"},
            {"id": "t4", "instruction": "synthetic", "env": "sql"},
        ]
    )
    project.config.env.name = "sql"
    assert [(t.id, t.instruction) for t in heldout_tasks(project)] == [("t1", "held a"), ("t2", "held b")]
    first, second = trajectory(project), trajectory(project, key="r/explore-1")
    ids = examples(project, first)
    examples(project, second)
    assert read.example_ids(project.store, [first]) == sorted(ids.values())
    assert len(read.example_ids(project.store, [first, second])) == 8 and read.example_ids(project.store, []) == []


def test_a_run_records_progress_and_ends_done_or_failed(project: Project) -> None:
    seen: list[tuple[int, int]] = []
    with project.run("g", "generate") as run:
        tick = run.track(lambda done, total: seen.append((done, total)))
        tick(1, 4)
        assert read.active_runs(project.store)[0]["progress_done"] == 1
        tick(4, 4)
        run.progress(message="4 tasks added")
    row = read.recent_runs(project.store)[0]
    assert (row["status"], row["progress_done"], row["progress_total"], row["message"]) == (
        "done",
        4,
        4,
        "4 tasks added",
    )
    assert seen == [(1, 4), (4, 4)]
    try:
        with project.run("g", "generate"):
            raise RuntimeError("the model went away")
    except RuntimeError:
        pass
    assert read.recent_runs(project.store)[0]["status"] == "failed"
    assert read.recent_runs(project.store)[0]["message"] == "the model went away"
