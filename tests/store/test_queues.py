"""lbi.store.queues: which examples each review queue holds, in which order; undone overrides; bulk batches."""

import pytest

from lbi.project import Project
from lbi.store import committee, queues
from lbi.store.queues import QUEUES, QueueSpec
from tests.store.fixtures import examples, judge, trajectory


@pytest.fixture
def spans(project: Project) -> dict[tuple[int, int], int]:
    """Four examples on three judges: (0,0) all yes, (0,1) one no, (1,2) two no, (2,2) all no."""
    ids = examples(project, trajectory(project))
    for span, votes in zip(ids, [(1, 1, 1), (1, 1, 0), (1, 0, 0), (0, 0, 0)], strict=True):
        judge(project, ids[span], *map(bool, votes))
    return ids


def _ids(project: Project, **spec: object) -> list[int]:
    return queues.queue_ids(project.store, QueueSpec(**spec), judges=3)


def test_each_queue_holds_what_its_name_says(project: Project, spans: dict[tuple[int, int], int]) -> None:
    a, b, c, d = spans.values()
    assert _ids(project, kind="kept") == [a]
    assert _ids(project, kind="filtered") == [b, c, d]
    assert _ids(project, kind="filtered", policy="majority") == [c, d]
    assert _ids(project, kind="disagree") == [b, c]
    assert _ids(project, kind="one-no") == [b]
    assert _ids(project, kind="all") == [a, b, c, d]
    assert _ids(project, kind="all", search="ROW 2 TO") == [d]  # case-insensitive, narrows any queue
    tid = project.store.query("SELECT trajectory_id FROM examples WHERE id = ?", (a,))[0][0]
    assert _ids(project, kind="trajectory", trajectory=tid) == [a, b, c, d]
    assert _ids(project, kind="trajectory", trajectory=tid + 1) == []


def test_unreviewed_leaves_out_overridden_examples_but_not_undone_ones(
    project: Project, spans: dict[tuple[int, int], int]
) -> None:
    a, b, c, d = spans.values()
    first = project.store.add_override(b, "keep", who="ana")
    project.store.add_override(c, "keep", who="ana")
    assert _ids(project, kind="filtered", unreviewed=True) == [d]
    assert _ids(project, kind="kept") == [a, b, c]
    assert project.store.undo_overrides(ids=[first], who="ana") == 1
    assert project.store.undo_overrides(ids=[first], who="ana") == 0  # once
    assert _ids(project, kind="filtered", unreviewed=True) == [b, d]
    assert _ids(project, kind="kept") == [a, c]  # the undone keep no longer counts


def test_undoing_the_newest_override_brings_back_the_one_before(
    project: Project, spans: dict[tuple[int, int], int]
) -> None:
    d = spans[(2, 2)]
    project.store.add_override(d, "keep", who="ana")
    newer = project.store.add_override(d, "drop", who="bo")
    assert d not in committee.kept_ids(project.store, "strict", 3)
    project.store.undo_overrides(ids=[newer], who="bo")
    assert d in committee.kept_ids(project.store, "strict", 3)
    row = project.store.query("SELECT undone_by, undone_at IS NOT NULL FROM overrides WHERE id = ?", (newer,))[0]
    assert tuple(row) == ("bo", 1)  # kept on record


def test_a_bulk_batch_is_a_queue_and_is_undone_as_one(project: Project, spans: dict[tuple[int, int], int]) -> None:
    ids = list(spans.values())
    assert project.store.add_overrides(ids[1:], "keep", who="ana", note="fine after all", batch="bulk-1") == 3
    assert _ids(project, kind="batch", batch="bulk-1") == ids[1:]
    assert committee.kept_count(project.store, "strict", 3) == 4
    (batch,) = queues.batches(project.store)
    assert (batch["batch"], batch["examples"], batch["undone"], batch["note"]) == ("bulk-1", 3, 0, "fine after all")
    assert project.store.undo_overrides(batch="bulk-1", who="ana") == 3
    assert committee.kept_count(project.store, "strict", 3) == 1
    assert queues.batches(project.store)[0]["undone"] == 3
    with pytest.raises(ValueError, match="batch"):
        project.store.add_overrides(ids, "keep", who="ana", batch="")


def test_a_spec_round_trips_through_a_link() -> None:
    spec = QueueSpec(kind="cluster", cluster=3, search="milestone", unreviewed=True)
    params = spec.params()
    assert params == {"queue": "cluster", "cluster": "3", "search": "milestone", "unreviewed": "1"}
    assert QueueSpec.from_params(params) == spec
    assert QueueSpec.from_params({"queue": "kept", "policy": "relaxed"}).label() == "Kept (relaxed)"
    with pytest.raises(ValueError, match="no queue"):
        QueueSpec.from_params({"queue": "nope"})
    assert set(QUEUES) >= {"filtered", "kept", "disagree", "one-no", "cluster", "trajectory"}


def test_queue_rows_show_votes_override_and_decision(project: Project, spans: dict[tuple[int, int], int]) -> None:
    a, b, _, _ = spans.values()
    project.store.add_override(b, "keep", who="ana")
    rows = queues.queue_rows(project.store, [b, a, 999], policy="strict", judges=3)
    assert [(r["id"], r["yes"], r["override"], r["kept"]) for r in rows] == [
        (b, "2/3", "keep", True),
        (a, "3/3", "", True),
    ]
