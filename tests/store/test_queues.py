"""lbi.store.queues: which examples each review queue holds, in which order; undone overrides; bulk batches; the
leak flags queue and undone leak decisions."""

import pytest

from lbi.project import Project
from lbi.store import committee, leaks, queues
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


def test_the_disagreement_queues_count_the_judges_that_vote(
    project: Project, spans: dict[tuple[int, int], int]
) -> None:
    """With the voting judges named (`lbi.synth.trust.voters`), "judges disagree" and "one judge said no" look at
    their verdicts only: a judge left out of the vote (measured at chance) makes no disagreement."""
    a, b, c, d = spans.values()  # votes of a, b, c: (1,1,1) (1,1,0) (1,0,0) (0,0,0)
    voters = ("a", "b")  # c does not vote
    assert queues.queue_ids(project.store, QueueSpec(kind="disagree"), judges=voters) == [c]
    assert queues.queue_ids(project.store, QueueSpec(kind="one-no"), judges=voters) == [c]
    assert queues.queue_ids(project.store, QueueSpec(kind="kept"), judges=voters) == [a, b]


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
    assert set(QUEUES) >= {"filtered", "kept", "disagree", "one-no", "cluster", "trajectory", "leaks"}
    leak = QueueSpec(kind="leaks", leaks="undecided", search="row")
    assert leak.params() == {"queue": "leaks", "leaks": "undecided", "search": "row"}
    assert QueueSpec.from_params(leak.params()) == leak and leak.label() == "Leak flags (undecided) · “row”"
    assert QueueSpec(kind="leaks").params() == {"queue": "leaks"}  # all flags, undecided first: the default
    with pytest.raises(ValueError, match="leak flags"):
        QueueSpec.from_params({"queue": "leaks", "leaks": "maybe"})


def test_queue_rows_show_votes_override_and_decision(project: Project, spans: dict[tuple[int, int], int]) -> None:
    a, b, _, _ = spans.values()
    project.store.add_override(b, "keep", who="ana")
    rows = queues.queue_rows(project.store, [b, a, 999], policy="strict", judges=3)
    assert [(r["id"], r["yes"], r["override"], r["kept"]) for r in rows] == [
        (b, "2/3", "keep", True),
        (a, "3/3", "", True),
    ]


def _flag(project: Project, *flagged: int, clean: tuple[int, ...] = ()) -> None:
    """What the leakage check records: `flagged` examples resemble held-out task h-1 (n-gram 0.9), `clean` do not."""
    hit = [{"heldout": "h-1", "measure": "ngram", "score": 0.9, "excerpt": "Find row 0"}]
    project.store.set_leak_checks(
        "example",
        [{"item": str(i), "digest": "d", "flagged": True, "hits": hit} for i in flagged]
        + [{"item": str(i), "digest": "d", "flagged": False, "hits": []} for i in clean],
    )


def test_the_leak_flags_queue_holds_the_flagged_examples_undecided_first(
    project: Project, spans: dict[tuple[int, int], int]
) -> None:
    a, b, c, d = spans.values()
    store = project.store
    _flag(project, d, b, clean=(a, c))
    assert _ids(project, kind="leaks") == [b, d]  # what the check flagged, not what it checked
    assert _ids(project, kind="leaks", leaks="undecided") == [b, d]
    assert _ids(project, kind="leaks", search="row 2") == [d]

    allowed = store.add_leak_override("example", str(b), "allow", who="ana", note="a different table")
    store.add_leak_override("example", str(a), "block", who="ana")  # one the check missed: a person keeps it out
    assert _ids(project, kind="leaks") == [d, a, b]  # the undecided first, then the decided, each by id
    assert _ids(project, kind="leaks", leaks="undecided") == [d]
    assert _ids(project, kind="leaks", leaks="allowed") == [b]
    assert _ids(project, kind="leaks", leaks="kept-out") == [a]
    assert leaks.blocked(store, "example") == {str(a), str(d)}

    # an undone decision stays on record and no longer counts: the flag decides again
    assert store.undo_leak_override(allowed, who="bo") and not store.undo_leak_override(allowed, who="bo")
    assert _ids(project, kind="leaks", leaks="undecided") == [b, d]
    assert _ids(project, kind="leaks", leaks="allowed") == []
    assert leaks.blocked(store, "example") == {str(a), str(b), str(d)}
    flag = leaks.flag(store, "example", b)
    assert flag is not None and flag["decision"] is None
    row = store.query("SELECT verdict, undone_by, undone_at IS NOT NULL FROM leak_overrides WHERE id = ?", (allowed,))
    assert tuple(row[0]) == ("allow", "bo", 1)


def test_a_flag_shows_the_held_out_task_it_matched(project: Project, spans: dict[tuple[int, int], int]) -> None:
    b = spans[(0, 1)]
    _flag(project, b)
    task = {"id": "h-1", "instruction": "Find row 0 to 1 of Items", "env": "sql", "split": "heldout"}
    project.store.add_tasks([task])
    flag = leaks.flag(project.store, "example", b)
    assert flag is not None
    assert leaks.hit_rows(project.store, flag["hits"]) == [
        {
            "held-out task": "h-1",
            "its instruction": "Find row 0 to 1 of Items",
            "measure": "ngram",
            "score": 0.9,
            "matched text": "Find row 0",
        }
    ]
