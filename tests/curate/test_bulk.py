"""lbi.curate.bulk: a decision over many examples — previewed, one override each under one batch, undone as one."""

from lbi.curate import bulk
from lbi.project import Project
from lbi.store import committee
from tests.store.fixtures import examples, judge, trajectory


def test_preview_apply_and_undo(project: Project) -> None:
    store = project.store
    ids = list(examples(project, trajectory(project)).values())
    judge(project, ids[0], True, True, True)  # kept
    for example in ids[1:]:
        judge(project, example, True, False, False)
    store.add_override(ids[1], "drop", who="bo")
    plan = bulk.plan(store, [*ids, ids[0], 999], "drop", note="generic", policy="strict", judges=3)
    assert plan.ids == ids  # duplicates and unknown ids left out
    assert (plan.kept_now, plan.changes, plan.already) == (1, 1, 1)
    assert [s["id"] for s in plan.sample] == ids and "4 examples: 1 change" in plan.summary
    assert store.query("SELECT COUNT(*) FROM overrides")[0][0] == 1  # a preview records nothing
    batch = bulk.apply(store, plan, who="ana")
    rows = store.query(
        "SELECT example_id, verdict, note, who FROM overrides WHERE batch = ? ORDER BY example_id", (batch,)
    )
    assert [tuple(r) for r in rows] == [(i, "drop", "generic", "ana") for i in ids]
    assert committee.kept_count(store, "strict", 3) == 0
    assert bulk.undo(store, batch, who="ana") == 4
    assert committee.kept_ids(store, "strict", 3) == [ids[0]]
    assert committee.decisions(store, "strict", 3, ids=[ids[1]])[0]["override"] == "drop"  # bo's, from before
    assert bulk.plan(store, ids[:1], "keep", note="", policy="strict", judges=3).summary.startswith("Keep 1 example:")
