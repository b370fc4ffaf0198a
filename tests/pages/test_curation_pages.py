"""The Review and Clusters pages under AppTest, on a store filled by the real pipeline: a queue gone through one
example at a time (keep, drop, skip, back, undo, edit), a bulk decision previewed, applied and undone, a clustering
run as a background job and a cluster dropped at once, and deep links opening what they name."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from lbi.project import Project
from lbi.store import committee, queues
from lbi.store.queues import QueueSpec
from tests.conftest import ROOT
from tests.pages import fixtures as pages_fixtures
from tests.pages.fixtures import WEB_KEY
from tests.pages.test_pages import _after_job, _markdown, _metrics, _page, _texts

filled_template = pages_fixtures.filled_template
filled = pages_fixtures.filled
evaluated_template = pages_fixtures.evaluated_template
evaluated = pages_fixtures.evaluated


def _linked(project_dir: Path, page: str, **params: object) -> AppTest:
    """The app opened on `page` by a link carrying these query parameters."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["project_dir"] = str(project_dir)
    at.session_state["who"] = "tester"
    at.run()
    for name, value in params.items():
        at.query_params[name] = str(value)
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _filtered(project: Project) -> list[int]:
    return queues.queue_ids(project.store, QueueSpec(kind="filtered"), len(project.config.models.judges))


def _live_overrides(project: Project) -> list[tuple]:
    return [
        tuple(r)
        for r in project.store.query(
            "SELECT example_id, verdict, who, note FROM overrides WHERE undone_at IS NULL ORDER BY id"
        )
    ]


def test_review_a_queue_one_example_at_a_time(filled: Project) -> None:
    queue = _filtered(filled)
    at = _page(filled.dir, "review")
    assert (
        _metrics(at)["Example"] == f"#{queue[0]}" and f"example 1 of {len(queue)}" in at.get("progress")[0].proto.text
    )
    assert {b.label for b in at.button} >= {"Keep", "Drop", "Skip", "Back", "Undo"}
    at.text_input(key="rv_note").set_value("does what it says").run()
    at.button(key="rv_keep").click().run()
    assert _metrics(at)["Example"] == f"#{queue[1]}" and at.text_input(key="rv_note").value == ""
    at.button(key="rv_skip").click().run()
    at.button(key="rv_drop").click().run()
    assert _metrics(at)["Example"] == f"#{queue[3]}"
    assert _live_overrides(filled) == [
        (queue[0], "keep", "tester", "does what it says"),
        (queue[2], "drop", "tester", ""),
    ]
    at.button(key="rv_undo").click().run()  # the drop: back on that example, the override undone
    assert _metrics(at)["Example"] == f"#{queue[2]}" and len(_live_overrides(filled)) == 1
    at.button(key="rv_back").click().run()
    assert _metrics(at)["Example"] == f"#{queue[1]}"
    assert at.code[-1].value == f"/review?queue=filtered&example={queue[1]}"  # the link to what is on screen


def test_review_shows_the_span_as_the_environment_did_and_edits_keep_history(filled: Project) -> None:
    web = filled.store.query("SELECT id FROM trajectories WHERE key = ?", (WEB_KEY,))[0][0]
    example = filled.store.query(
        "SELECT id FROM examples WHERE trajectory_id = ? AND span_start = 0 AND span_end = 1 AND mode = 'per-span'",
        (web,),
    )[0][0]
    at = _page(filled.dir, "review", rv_kind="trajectory", rv_traj=web)
    at.button(key="rv_skip").click().run()
    assert _metrics(at)["Example"] == f"#{example}"
    assert "click('12')" in _texts(at) and "fill('31', 'printer ink')" in _texts(at)
    assert len(at.image) == 2  # both steps' screenshots (the acted-on element boxed)
    assert any(v["judge"] for v in at.dataframe[0].value.to_dict("records"))  # every judge's verdict and reason
    at.text_area(key=f"rv_text-{example}").set_value("Search the shop for printer ink")
    next(b for b in at.button if b.label == "Save instruction").click().run()
    edits = filled.store.query("SELECT new_instruction, who FROM example_edits WHERE example_id = ?", (example,))
    assert [tuple(e) for e in edits] == [("Search the shop for printer ink", "tester")]
    lineage = "\n".join(df.value.to_string() for df in at.dataframe)
    assert "trajectory" in lineage and "none has used it yet" in lineage


def test_review_a_coding_example_shows_the_terminal_and_the_diff(project: Project, tmp_path: Path) -> None:
    import json

    from lbi.models.fake import FakeModel
    from lbi.synth.rollout import rollout
    from tests.envs.repo.test_repo import make_repo

    project.config.env.name = "repo"
    project.config.env.options = {"repo": str(make_repo(tmp_path / "calc-1.0")), "cache_dir": str(tmp_path / "snap")}
    project.store.add_tasks([{"id": "c1", "instruction": "Make add() add b to a.", "env": "repo"}])
    actions = iter(
        ["bash('grep -n return calc/__init__.py')", "bash(\"sed -i 's/a + b/b + a/' calc/__init__.py\")", "submit()"]
    )
    FakeModel.register_responder("act", lambda m, s: json.dumps({"reasoning": "go", "action": next(actions)}))
    rollout(project, "code", policy="llm", max_steps=3)
    tid = project.store.query("SELECT id FROM trajectories")[0][0]
    project.store.add_examples(
        [
            {
                "trajectory_id": tid,
                "span_start": 0,
                "span_end": 1,
                "mode": "per-span",
                "instruction": "Swap the operands of add()",
            }
        ]
    )
    at = _page(project.dir, "review", rv_kind="all")
    codes = [c.value for c in at.code]
    assert any("6:    return a + b" in c for c in codes)  # the first command's output
    assert any("+    return b + a" in c for c in codes)  # the diff after the second


def test_bulk_decision_over_a_search_is_previewed_applied_and_undone(filled: Project) -> None:
    judges = len(filled.config.models.judges)
    at = _page(filled.dir, "review", rv_view="Bulk", rv_search="task_")
    family = queues.queue_ids(filled.store, QueueSpec(kind="filtered", search="task_"), judges)
    assert len(family) == 10 and len(at.dataframe[0].value) == 10
    at.radio(key="rv_bulk-verdict").set_value("keep").run()
    at.text_input(key="rv_bulk-note").set_value("the batched labels are fine").run()
    at.button(key="rv_bulk-preview").click().run()
    assert "Keep 10 examples: 10 change" in at.info[0].value.replace("\\", "")
    assert filled.store.query("SELECT COUNT(*) FROM overrides")[0][0] == 0  # nothing before Apply
    at.button(key="rv_bulk-apply").click().run()
    rows = filled.store.query("SELECT example_id, verdict, note, who, batch FROM overrides ORDER BY example_id")
    assert [r[0] for r in rows] == family and {(r[1], r[2], r[3]) for r in rows} == {
        ("keep", "the batched labels are fine", "tester")
    }
    assert len({r[4] for r in rows}) == 1 and "Recorded 10 overrides" in at.success[0].value
    assert committee.kept_count(filled.store, "strict", judges) >= 10 - 9  # near-duplicates of a kept one drop out
    at.button(key="rv_bulk-undo-last").click().run()
    assert filled.store.query("SELECT COUNT(*) FROM overrides WHERE undone_at IS NULL")[0][0] == 0
    assert committee.kept_count(filled.store, "strict", judges) == 0


def test_clusters_run_as_a_job_and_a_cluster_is_dropped_at_once(filled: Project) -> None:
    at = _page(filled.dir, "clusters")
    assert "No clusters yet" in " ".join(i.value for i in at.info)
    next(b for b in at.button if b.label == "Cluster in the background").click().run()
    _after_job(at, lambda a: "Examples" in _metrics(a), timeout=180)
    top = at.dataframe[0].value.iloc[0]
    assert top["size"] == 10 and top["dropped"] == 10 and top["instruction"].startswith("task_")
    members = at.dataframe[1].value
    assert len(members) == 10 and members["group_size"].iloc[0] == 10  # the near-identical ones, together
    assert any(
        link.proto.page.endswith("review.py") and "queue=cluster" in link.proto.query_string
        for link in at.get("page_link")
    ) or any("Review this cluster" in str(link.proto) for link in at.get("page_link"))
    at.radio(key="cl_bulk-verdict").set_value("drop").run()
    at.button(key="cl_bulk-preview").click().run()
    assert "Drop 10 examples: 0 change" in at.info[0].value.replace("\\", "")
    at.button(key="cl_bulk-apply").click().run()
    assert filled.store.query("SELECT COUNT(DISTINCT batch), COUNT(*) FROM overrides")[0][:] == (1, 10)
    assert _metrics(at)["Overridden"] == "10"


def test_a_deep_link_opens_the_example_it_names(filled: Project) -> None:
    queue = _filtered(filled)
    at = _linked(filled.dir, "review", queue="filtered", example=queue[5])
    assert _metrics(at)["Example"] == f"#{queue[5]}" and "example 6 of" in at.get("progress")[0].proto.text
    at.button(key="rv_keep").click().run()  # the page's own reruns do not go back to the linked example
    assert _metrics(at)["Example"] == f"#{queue[6]}"
    assert at.query_params["example"] == [str(queue[6])] or at.query_params["example"] == str(queue[6])


def test_deep_links_open_every_page_on_what_they_name(evaluated: Project) -> None:
    store = evaluated.store
    web = store.query("SELECT id FROM trajectories WHERE key = ?", (WEB_KEY,))[0][0]
    example = store.query(
        "SELECT id FROM examples WHERE trajectory_id = ? AND span_start = 1 AND span_end = 2 AND mode = 'per-span'",
        (web,),
    )[0][0]
    at = _linked(evaluated.dir, "backward", example=example)
    assert at.session_state["bw_traj"] == web and at.subheader[0].value == "Span 1–2"
    at = _linked(evaluated.dir, "backward", trajectory=web, span="0-1")
    assert at.subheader[0].value == "Span 0–1"
    at = _linked(evaluated.dir, "rollouts", trajectory=web, step=1)
    assert at.code[0].value == "fill('31', 'printer ink')"
    at = _linked(evaluated.dir, "dataset", example=example)  # a dropped example, though the page lists kept ones
    assert at.subheader[0].value == f"Example #{example}"
    at = _linked(evaluated.dir, "committee", example=example)
    assert at.session_state["committee_pick"] == example
    at = _linked(evaluated.dir, "evaluation", arm="trained:baseline", task="shop-total", step=1)
    assert (at.session_state["ev_task"], at.session_state["ev_arm"]) == ("shop-total", "trained:baseline")
    assert "solved" in _markdown(at) and at.code[0].value == "stop('7.75')"
    at = _linked(evaluated.dir, "review", queue="nope", example=example)
    assert any("not valid here" in w.value for w in at.warning) and _metrics(at)["Example"] == f"#{example}"
