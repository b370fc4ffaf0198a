"""lbi.store.committee: the verdict table, policy counts and agreement between raters, on a real store."""

import pytest

from lbi.config import LOCAL_MODEL
from lbi.project import Project
from lbi.store import committee, read
from lbi.synth import trust
from tests.store.fixtures import examples, judge, trajectory


def _table(a: list[int], b: list[int]) -> tuple[int, int, int, int]:
    """The 2×2 table of two raters' votes on the same items: (1, 1), (1, 0), (0, 1), (0, 0)."""
    pairs = list(zip(a, b, strict=True))
    both, first, second, neither = (sum(p == cell for p in pairs) for cell in ((1, 1), (1, 0), (0, 1), (0, 0)))
    return both, first, second, neither


@pytest.mark.parametrize(
    ("a", "b", "kappa"),
    [
        ([1, 1, 0, 0], [1, 0, 0, 0], 0.5),
        ([1, 0, 1, 0], [1, 0, 1, 0], 1.0),
        ([1, 0, 1, 0], [0, 1, 0, 1], -1.0),
        ([1, 1, 1], [1, 1, 1], 1.0),
        ([1, 1, 1], [0, 0, 0], 0.0),
    ],
)
def test_cohen_kappa(a: list[int], b: list[int], kappa: float) -> None:
    assert committee.kappa_from_counts(*_table(a, b)) == pytest.approx(kappa)


def test_cohen_kappa_undefined() -> None:
    assert committee.kappa_from_counts(0, 0, 0, 0) is None


def test_agreement_between_judges_and_with_human_overrides(project: Project) -> None:
    tid = trajectory(project)
    ids = list(examples(project, tid).values())
    for ex, votes in zip(ids, [(1, 1), (1, 0), (0, 0), (0, 0)], strict=True):
        judge(project, ex, *map(bool, votes))
    project.store.add_override(ids[0], "drop", who="ana")
    project.store.add_override(ids[0], "keep", who="ana")  # the newest wins
    project.store.add_override(ids[2], "keep", who="ana")
    rows = {(r["rater A"], r["rater B"]): r for r in committee.agreement(project.store, ["a", "b"])}
    assert rows[("a", "b")]["items"] == 4 and rows[("a", "b")]["agreement %"] == 75.0
    assert rows[("a", "b")]["kappa"] == 0.5
    human = rows[("a", committee.HUMAN)]
    assert human["items"] == 2 and human["agreement %"] == 50.0
    names, matrix = committee.agreement_matrix(list(rows.values()))
    assert names == ["a", "b", committee.HUMAN]
    assert matrix[0][1] == matrix[1][0] == 75.0 and matrix[2][2] == 100.0


def test_committee_table_views_and_policy_counts(project: Project) -> None:
    tid = trajectory(project)
    ids = examples(project, tid)
    judge(project, ids[(0, 0)], True, True, True)
    judge(project, ids[(0, 1)], True, False, False)
    everything = committee.committee_table(project.store, policy="strict", judges=["a", "b", "c"])
    assert len(everything) == 4
    first = next(r for r in everything if r["id"] == ids[(0, 0)])
    assert (first["a verdict"], first["a reason"], first["yes"], first["kept"]) == ("yes", "a says True", "3/3", True)
    kept = committee.committee_table(project.store, policy="strict", judges=["a", "b", "c"], show="kept")
    dropped = committee.committee_table(project.store, policy="strict", judges=["a", "b", "c"], show="dropped")
    assert [r["id"] for r in kept] == [ids[(0, 0)]] and len(dropped) == 3
    assert committee.kept_by_policy(project.store, 3) == {"strict": 1, "majority": 1, "relaxed": 2}


def test_the_verdict_table_of_an_example(project: Project) -> None:
    tid = trajectory(project)
    ids = examples(project, tid)
    judge(project, ids[(0, 1)], True, False)
    ex = read.example(project.store, ids[(0, 1)])
    assert ex is not None
    rows = committee.verdict_rows(ex["verdicts"])
    assert rows == [
        {"judge": "a", "verdict": "yes", "reason": "a says True"},
        {"judge": "b", "verdict": "no", "reason": "b says False"},
    ]


def test_decisions_and_counts_follow_one_rule(project: Project) -> None:
    tid = trajectory(project)
    ids = examples(project, tid)
    for ex, votes in zip(ids.values(), [(1, 1, 1), (1, 1, 0), (1, 0, 0), ()], strict=True):
        judge(project, ex, *map(bool, votes))
    project.store.set_similar([(ids[(0, 1)], ids[(0, 0)], 0.99)])
    by_policy = committee.kept_by_policy(project.store, 3)
    for policy in committee.POLICIES:
        rows = committee.decisions(project.store, policy, 3)
        assert sum(r["kept"] for r in rows) == by_policy[policy] == committee.kept_count(project.store, policy, 3)
        assert committee.decisions(project.store, policy, 3, ids=[ids[(0, 1)]]) == [
            r for r in rows if r["example_id"] == ids[(0, 1)]
        ]
    assert by_policy == {"strict": 1, "majority": 1, "relaxed": 2}  # (0, 1) passes majority but duplicates (0, 0)
    with pytest.raises(ValueError, match="unknown judge policy"):
        committee.kept_count(project.store, "lenient")


def test_only_some_judges_count_when_asked(project: Project) -> None:
    """The ablation rule: counting only judges a and b, an example b and c reject is still refused by b, one
    that only c rejects is kept, and the committee size is the number of judges that count."""
    tid = trajectory(project)
    ids = list(examples(project, tid).values())
    judge(project, ids[0], True, True, False)  # a, b yes; c no
    judge(project, ids[1], True, False, False)  # only a yes
    assert committee.kept_ids(project.store, "strict", 3) == []
    assert committee.kept_ids(project.store, "strict", 3, only=["a", "b"]) == [ids[0]]
    assert committee.kept_count(project.store, "strict", 3, only=["a", "b"]) == 1
    assert committee.kept_ids(project.store, "majority", 3, only=["a", "c"]) == []  # 1 of 2 is no majority
    assert committee.kept_ids(project.store, "relaxed", 3, only=["c"]) == []
    assert committee.kept_ids(project.store, "strict", 3, only=["a"]) == ids[:2]


def test_the_judges_that_vote_are_named_and_a_missing_vote_is_a_no(project: Project) -> None:
    """`judges` as names (`lbi.synth.trust.voting`): only their verdicts count, and one of them not yet heard from
    counts as a no under strict; the verdict table still shows every judge's column, its `yes` counting voters."""
    tid = trajectory(project)
    ids = list(examples(project, tid).values())
    judge(project, ids[0], True, True, False)  # a, b yes; c no
    judge(project, ids[1], True)  # a yes; b, c not yet
    assert committee.kept_ids(project.store, "strict", ("a", "b")) == [ids[0]]
    assert committee.kept_ids(project.store, "strict", ("a",)) == ids[:2]
    assert committee.kept_by_policy(project.store, ("a", "b")) == {"strict": 1, "majority": 1, "relaxed": 2}
    rows = {r["id"]: r for r in committee.committee_table(project.store, judges=["a", "b", "c"], voters=("a", "b"))}
    assert rows[ids[0]]["kept"] and rows[ids[0]]["yes"] == "2/2" and rows[ids[0]]["c verdict"] == "no"
    assert not rows[ids[1]]["kept"] and rows[ids[1]]["yes"] == "1/2"
    assert read.funnel(project.store, "strict", ("a", "b"))["kept"] == 1


def test_a_project_on_the_embedded_model_keeps_what_grounding_keeps(project: Project) -> None:
    """The shipped judge benchmark measured the embedded model's judges at chance on SQL: in a project on it, their
    verdicts are shown but do not decide; with `synth.judge_trust = "all"` they do again."""
    project.config.models.default = LOCAL_MODEL
    project.config.env.name = "sql"
    assert trust.voters(project.config) == ("grounding",)
    tid = trajectory(project)
    ids = list(examples(project, tid).values())
    for name in ("accomplishment", "instruction", "efficiency"):
        project.store.set_verdict(ids[0], name, False, "The task is not complete.")
    project.store.set_verdict(ids[0], "grounding", True, "acted on the Items table")
    assert committee.kept_ids(project.store, "strict", trust.voters(project.config)) == [ids[0]]
    project.config.synth.judge_trust = "all"
    assert committee.kept_ids(project.store, "strict", trust.voters(project.config)) == []


def test_yes_of_counts_a_voter_without_a_verdict_in_the_total() -> None:
    assert committee.yes_of({"yes": 1, "n": 1}, ["grounding", "replay"]) == "1/2"  # replay has not judged yet
    assert committee.yes_of({"yes": 2, "n": 3}, 2) == "2/3"  # more verdicts than voters named: all are shown
    assert committee.yes_of({}, ["grounding"]) == "0/1"
