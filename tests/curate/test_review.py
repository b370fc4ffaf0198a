"""lbi.curate.review: going through a queue — keep, drop, allow or keep out a leak flag, skip, edit, back, undo — on
a real store."""

import pytest

from lbi.curate.review import Review
from lbi.project import Project
from lbi.store import committee, leaks
from lbi.store.queues import QueueSpec
from tests.store.fixtures import examples, judge, trajectory


@pytest.fixture
def queue(project: Project) -> list[int]:
    """Four examples every judge said no to: all in the filtered-out queue."""
    ids = list(examples(project, trajectory(project)).values())
    for example in ids:
        judge(project, example, False, False, False)
    return ids


def test_decide_skip_and_undo_walk_the_queue_and_write_overrides(project: Project, queue: list[int]) -> None:
    store = project.store
    review = Review.open(store, QueueSpec(kind="filtered"), judges=3)
    assert (review.current, review.total, review.position) == (queue[0], 4, 0)
    review.decide(store, "keep", who="ana", note="does what it says")
    review.skip()
    review.decide(store, "drop", who="ana")
    assert review.current == queue[3] and review.decided == 2
    rows = store.query("SELECT example_id, verdict, who, note FROM overrides ORDER BY id")
    assert [tuple(r) for r in rows] == [(queue[0], "keep", "ana", "does what it says"), (queue[2], "drop", "ana", "")]
    assert committee.kept_ids(store, "strict", 3) == [queue[0]]
    undone = review.undo(store, who="ana")
    assert undone is not None and undone.kind == "drop" and review.current == queue[2]
    assert store.query("SELECT COUNT(*) FROM overrides WHERE undone_at IS NULL")[0][0] == 1
    review.undo(store, who="ana")  # the skip: back to it, nothing in the store
    assert review.current == queue[1]
    review.undo(store, who="ana")
    assert review.current == queue[0] and committee.kept_ids(store, "strict", 3) == []
    assert review.undo(store, who="ana") is None


def test_edit_keeps_history_and_undo_edits_back(project: Project, queue: list[int]) -> None:
    store = project.store
    review = Review.open(store, QueueSpec(kind="filtered"), judges=3)
    before = store.query("SELECT instruction FROM examples WHERE id = ?", (queue[0],))[0][0]
    assert review.edit(store, "  Show the first row of the Items table ", who="ana") is not None
    assert review.edit(store, "Show the first row of the Items table", who="ana") is None  # nothing changed
    assert review.current == queue[0]  # an edit stays on the example
    review.undo(store, who="ana")
    assert store.query("SELECT instruction FROM examples WHERE id = ?", (queue[0],))[0][0] == before
    edits = store.query("SELECT new_instruction FROM example_edits ORDER BY id")
    assert [r[0] for r in edits] == ["Show the first row of the Items table", before]


def test_the_end_of_the_queue_and_a_link_to_an_example_outside_it(project: Project, queue: list[int]) -> None:
    store = project.store
    store.add_override(queue[1], "keep", who="ana")
    review = Review.open(store, QueueSpec(kind="filtered"), judges=3, at=queue[1])  # kept now: not in the queue
    assert review.current == queue[1] and review.total == 4
    review.move(+10)
    assert review.current is None
    with pytest.raises(IndexError):
        review.skip()
    review.move(-1)
    assert review.current == queue[3]


def test_allow_and_keep_out_decide_the_leak_flag_and_undo_takes_it_back(project: Project, queue: list[int]) -> None:
    store = project.store
    for example in queue:
        store.set_verdict(example, "a", True, "fine")  # every judge says yes now: the committee keeps them all
        store.set_verdict(example, "b", True, "fine")
        store.set_verdict(example, "c", True, "fine")
    hit = [{"heldout": "h-1", "measure": "answer", "score": 1.0, "excerpt": "'bob' in: owner bob"}]
    store.set_leak_checks("example", [{"item": str(i), "digest": "d", "flagged": True, "hits": hit} for i in queue[:2]])
    assert committee.kept_ids(store, "strict", 3) == queue[2:]

    review = Review.open(store, QueueSpec(kind="leaks"), judges=3)
    assert review.ids == queue[:2]
    review.decide_leak(store, "allow", who="ana", note="another database")
    review.decide_leak(store, "block", who="ana")
    assert review.current is None and review.decided == 2
    rows = store.query("SELECT kind, item, verdict, who, note FROM leak_overrides ORDER BY id")
    assert [tuple(r) for r in rows] == [
        ("example", str(queue[0]), "allow", "ana", "another database"),
        ("example", str(queue[1]), "block", "ana", ""),
    ]
    assert committee.kept_ids(store, "strict", 3) == [queue[0], *queue[2:]]  # allowed: the committee keeps it
    assert not store.query("SELECT 1 FROM overrides"), "no keep/drop override was made"

    review.undo(store, who="ana")  # the keep out: back to it, the flag alone keeps it out
    assert review.current == queue[1] and str(queue[1]) in leaks.blocked(store, "example")
    undone = review.undo(store, who="ana")  # the allow
    assert undone is not None and undone.kind == "allow" and review.current == queue[0]
    assert committee.kept_ids(store, "strict", 3) == queue[2:]
    assert store.query("SELECT COUNT(*) FROM leak_overrides WHERE undone_by = 'ana'")[0][0] == 2  # on record
