"""lbi.views: the read-only shapes the pages draw, on a real store."""

from pathlib import Path

import pytest

from lbi.store import queries, views
from lbi.project import Project


def _trajectory(project: Project, n: int = 3, key: str = "r/explore-0") -> int:
    run = project.store.start_run("r", "rollout")
    tid, _ = project.store.begin_trajectory(key, run_id=run, policy="explore", env="sql")
    for i in range(n):
        project.store.add_step(tid, i, observation=f"obs {i}", action=f"execute_sql('SELECT {i}')",
                               screenshot="missing.png" if i == 0 else None)
    project.store.finish_trajectory(tid, status="done")
    return tid


def _examples(project: Project, tid: int) -> dict[tuple[int, int], int]:
    spans = [(0, 0), (0, 1), (1, 2), (2, 2)]
    ids = project.store.add_examples({"trajectory_id": tid, "span_start": i, "span_end": j, "mode": "per-span",
                                      "instruction": f"Find row {i} to {j} in the Items table"} for i, j in spans)
    return dict(zip(spans, ids, strict=True))


def _judge(project: Project, example_id: int, *votes: bool) -> None:
    for name, vote in zip(("a", "b", "c"), votes, strict=False):
        project.store.set_verdict(example_id, name, vote, f"{name} says {vote}")


def test_span_grid_marks_each_span_by_status(project: Project) -> None:
    tid = _trajectory(project)
    ids = _examples(project, tid)
    _judge(project, ids[(0, 0)], True, True, True)
    _judge(project, ids[(0, 1)], True, False, True)
    _judge(project, ids[(1, 2)], False, False, False)
    project.store.add_override(ids[(1, 2)], "keep", who="ana", note="fine after all")
    grid = views.span_grid(project.store, tid, policy="strict", judges=3)
    assert grid.length == 3 and grid.mode == "per-span"
    assert grid.status == [[views.KEPT, views.DROPPED, views.NO_EXAMPLE],
                           [None, views.NO_EXAMPLE, views.OVERRIDDEN],
                           [None, None, views.EXAMPLE]]
    assert grid.example_ids[0][1] == ids[(0, 1)]
    assert grid.instructions[2][2] == "Find row 2 to 2 in the Items table"
    assert grid.counts() == {"no example": 2, "example (not judged)": 1, "kept": 1, "dropped": 1, "overridden": 1}
    relaxed = views.span_grid(project.store, tid, policy="relaxed", judges=3)
    assert relaxed.status[0][1] == views.KEPT


def test_span_grid_of_a_trajectory_without_examples(project: Project) -> None:
    tid = _trajectory(project, n=2)
    grid = views.span_grid(project.store, tid)
    assert grid.mode is None and grid.status == [[0, 0], [None, 0]]


def test_example_detail_has_span_steps_verdicts_overrides_and_edits(project: Project) -> None:
    tid = _trajectory(project)
    ids = _examples(project, tid)
    _judge(project, ids[(1, 2)], True, True, True)
    project.store.edit_example(ids[(1, 2)], "Count the rows", who="ana")
    project.store.add_override(ids[(1, 2)], "drop", who="bo", note="too vague")
    ex = views.example(project.store, ids[(1, 2)], policy="strict", judges=3)
    assert ex is not None
    assert [s["idx"] for s in ex["steps"]] == [1, 2]
    assert ex["instruction"] == "Count the rows" and ex["edits"][0]["who"] == "ana"
    assert ex["overrides"][0]["note"] == "too vague"
    assert ex["decision"]["kept"] == 0 and len(ex["verdicts"]) == 3
    assert views.example(project.store, 9999) is None


def test_trajectory_list_and_detail(project: Project) -> None:
    tid = _trajectory(project)
    _examples(project, tid)
    rows = views.trajectories(project.store, run="r", status="done", policy="explore")
    assert [(r["id"], r["steps"], r["examples"], r["run"]) for r in rows] == [(tid, 3, 4, "r")]
    assert views.trajectories(project.store, policy="llm") == []
    traj = views.trajectory(project.store, tid)
    assert traj is not None and [s["action"] for s in traj["steps"]][0] == "execute_sql('SELECT 0')"
    assert views.trajectory(project.store, 12345) is None


def test_screenshot_file_only_when_it_exists(tmp_path: Path) -> None:
    (tmp_path / "shots").mkdir()
    (tmp_path / "shots" / "a.png").write_bytes(b"png")
    assert views.screenshot_file("shots/a.png", tmp_path) == tmp_path / "shots" / "a.png"
    assert views.screenshot_file(str(tmp_path / "shots" / "a.png"), Path("/elsewhere")) is not None
    assert views.screenshot_file("shots/gone.png", tmp_path) is None
    assert views.screenshot_file(None, tmp_path) is None


@pytest.mark.parametrize(("a", "b", "kappa"), [
    ([1, 1, 0, 0], [1, 0, 0, 0], 0.5),
    ([1, 0, 1, 0], [1, 0, 1, 0], 1.0),
    ([1, 0, 1, 0], [0, 1, 0, 1], -1.0),
    ([1, 1, 1], [1, 1, 1], 1.0),
    ([1, 1, 1], [0, 0, 0], 0.0),
])
def test_cohen_kappa(a: list[int], b: list[int], kappa: float) -> None:
    assert views.cohen_kappa(a, b) == pytest.approx(kappa)


def test_cohen_kappa_undefined() -> None:
    assert views.cohen_kappa([], []) is None
    assert views.cohen_kappa([1], [1, 0]) is None


def test_agreement_between_judges_and_with_human_overrides(project: Project) -> None:
    tid = _trajectory(project)
    ids = list(_examples(project, tid).values())
    for ex, votes in zip(ids, [(1, 1), (1, 0), (0, 0), (0, 0)], strict=True):
        _judge(project, ex, *map(bool, votes))
    project.store.add_override(ids[0], "drop", who="ana")
    project.store.add_override(ids[0], "keep", who="ana")  # the newest wins
    project.store.add_override(ids[2], "keep", who="ana")
    rows = {(r["rater A"], r["rater B"]): r for r in views.agreement(project.store, ["a", "b"])}
    assert rows[("a", "b")]["items"] == 4 and rows[("a", "b")]["agreement %"] == 75.0
    assert rows[("a", "b")]["kappa"] == 0.5
    human = rows[("a", views.HUMAN)]
    assert human["items"] == 2 and human["agreement %"] == 50.0
    names, matrix = views.agreement_matrix(list(rows.values()))
    assert names == ["a", "b", views.HUMAN]
    assert matrix[0][1] == matrix[1][0] == 75.0 and matrix[2][2] == 100.0


def test_committee_table_views_and_policy_counts(project: Project) -> None:
    tid = _trajectory(project)
    ids = _examples(project, tid)
    _judge(project, ids[(0, 0)], True, True, True)
    _judge(project, ids[(0, 1)], True, False, False)
    everything = views.committee_table(project.store, policy="strict", judges=["a", "b", "c"])
    assert len(everything) == 4
    first = next(r for r in everything if r["id"] == ids[(0, 0)])
    assert (first["a verdict"], first["a reason"], first["yes"], first["kept"]) == ("yes", "a says True", "3/3", True)
    kept = views.committee_table(project.store, policy="strict", judges=["a", "b", "c"], show="kept")
    dropped = views.committee_table(project.store, policy="strict", judges=["a", "b", "c"], show="dropped")
    assert [r["id"] for r in kept] == [ids[(0, 0)]] and len(dropped) == 3
    assert views.policy_counts(project.store, 3) == {"strict": 1, "majority": 1, "relaxed": 2}


def test_search_examples_by_substring_and_filters(project: Project) -> None:
    tid = _trajectory(project)
    ids = _examples(project, tid)
    for ex in ids.values():
        _judge(project, ex, True, True, True)
    hits = views.search_examples(project.store, judges=3, search="ROW 0 TO")
    assert sorted(r["id"] for r in hits) == [ids[(0, 0)], ids[(0, 1)]]
    assert views.search_examples(project.store, judges=3, mode="batched") == []
    assert len(views.search_examples(project.store, judges=3, env="sql", run="r")) == 4
    project.store.add_override(ids[(0, 0)], "drop", who="ana")
    assert ids[(0, 0)] not in [r["id"] for r in views.search_examples(project.store, judges=3)]
    every = views.search_examples(project.store, judges=3, kept_only=False)
    assert len(every) == 4 and sum(r["kept"] for r in every) == 3
    assert views.dataset_filters(project.store) == {"mode": ["per-span"], "env": ["sql"], "run": ["r"]}


def test_documents_chunks_tasks_and_runs(project: Project) -> None:
    project.store.add_document({"id": "d1", "source": "a.md", "title": "A", "format": "md", "text": "hello"},
                               [{"id": "c1", "doc_id": "d1", "ordinal": 0, "title": "A", "text": "hello"}])
    project.store.add_tasks([{"id": "t1", "instruction": "Show Items", "env": "sql", "chunk_id": "c1"},
                             {"id": "t2", "instruction": "held", "env": "sql", "split": "heldout"}])
    assert views.documents(project.store)[0]["chunks"] == 1
    assert views.chunks(project.store, "d1")[0]["tasks"] == 1
    assert [t["id"] for t in views.tasks(project.store, "heldout")] == ["t2"]
    assert [t["id"] for t in views.tasks(project.store, search="items")] == ["t1"]
    run = project.store.start_run("g", "generate")
    project.store.update_run(run, done=1, total=4)
    assert views.active_runs(project.store)[0]["name"] == "g"
    assert views.runs_table(project.store)[0]["progress"] == 0.25
    assert views.run_names(project.store, "generate") == ["g"]
    assert queries.POLICIES == ("strict", "majority", "relaxed")
