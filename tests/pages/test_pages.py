"""Every workbench page under Streamlit's AppTest, through app.py's st.navigation, on a store filled by
the real pipeline (fake model, SQLite env): what each page shows, and what a click changes."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lbi import jobs
from lbi.project import Project
from lbi.store import committee, evals, read
from tests.conftest import ROOT
from tests.pages import fixtures as pages_fixtures
from tests.pages.fixtures import EVIL, WEB_KEY

filled_template = pages_fixtures.filled_template
filled = pages_fixtures.filled
evaluated_template = pages_fixtures.evaluated_template
evaluated = pages_fixtures.evaluated

PAGES = [
    "overview",
    "docs",
    "rollouts",
    "backward",
    "committee",
    "review",
    "clusters",
    "retrieval",
    "evaluation",
    "dataset",
]


def _page(project_dir: Path, page: str, **state: object) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["project_dir"] = str(project_dir)
    at.session_state["who"] = "tester"
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _texts(at: AppTest) -> str:
    return "\n".join([*(t.value for t in at.text), *(c.value for c in at.code)])


def _markdown(at: AppTest) -> str:
    return "\n".join(m.value for m in [*at.markdown, *at.caption, *at.title, *at.subheader])


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _after_job(
    at: AppTest, done: Callable[[AppTest], bool], timeout: float = 120, *, allow_errors: bool = False
) -> AppTest:
    """Poll as the page does while its background job runs (re-run it) until `done(at)`; the job's log on failure."""
    deadline = time.monotonic() + timeout
    while not done(at):
        assert time.monotonic() < deadline, [jobs.tail(job.log) for job in at.session_state["jobs"]]
        assert allow_errors or not at.error, [e.value for e in at.error]
        time.sleep(0.5)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _succeeded(at: AppTest) -> bool:
    return bool(at.success)


@pytest.mark.parametrize("page", PAGES)
def test_a_missing_project_shows_the_init_hint(tmp_path: Path, page: str) -> None:
    at = _page(tmp_path / "nowhere", page)
    assert "lbi init" in at.error[0].value


@pytest.mark.parametrize("page", PAGES)
def test_an_empty_project_explains_what_to_do(project: Project, page: str) -> None:
    at = _page(project.dir, page)
    notes = " ".join(i.value for i in at.info)
    assert "yet" in notes or "empty" in notes, notes


def test_overview_shows_settings_funnel_usage_and_runs(filled: Project) -> None:
    at = _page(filled.dir, "overview")
    assert _metrics(at)["Environment"] == "sql" and _metrics(at)["Default model"] == "fake"
    frames = "\n".join(df.value.to_string() for df in at.dataframe)
    assert "walk" in frames and "web-demo" in frames and "judge" in frames
    assert len(at.get("plotly_chart")) == 3


def test_docs_lists_documents_and_shows_hostile_text_as_text(filled: Project) -> None:
    at = _page(filled.dir, "docs")
    at.selectbox(key="doc_pick").set_value(_doc_id(filled, "evil.txt")).run()
    frames = "\n".join(df.value.to_string() for df in at.dataframe)
    assert "<script>alert(1)</script>" in frames
    assert "<script>" not in _markdown(at) and "onerror" not in _markdown(at)


def _doc_id(project: Project, source_end: str) -> str:
    return next(
        r["id"] for r in project.store.query("SELECT id, source FROM documents") if r["source"].endswith(source_end)
    )


def test_docs_add_path_upload_and_import_tasks(filled: Project, tmp_path: Path) -> None:
    (tmp_path / "extra.md").write_text("# Extra\n\nHow to list the items table and sort it by price.\n")
    at = _page(filled.dir, "docs")
    at.text_input(key="docs_path").set_value(str(tmp_path / "extra.md")).run()
    at.button[0].click().run()
    _after_job(at, _succeeded)
    assert "1 new documents" in at.success[0].value
    assert any(d["source"].endswith("extra.md") for d in read.documents(filled.store))
    at.file_uploader[0].set_value(("up.txt", b"Uploaded notes about the shop database.", "text/plain")).run()
    next(b for b in at.button if b.label == "Add uploaded files").click().run()
    assert any("1 new documents" in s.value for s in at.success)
    before = filled.store.counts()["tasks"]
    at.text_input(key="task_file").set_value(str(ROOT / "data" / "demo" / "tasks" / "sql.jsonl")).run()
    next(b for b in at.button if b.label == "Import tasks").click().run()
    assert not at.exception, [e.value for e in at.exception]  # the page goes on below the import (Documents)
    assert any(" tasks read, " in s.value for s in at.success)
    assert filled.store.counts()["tasks"] > before
    assert filled.store.query("SELECT split FROM tasks WHERE id = 'sql-001'")[0][0] == "heldout"


def test_docs_add_path_that_is_not_there_shows_the_error(filled: Project, tmp_path: Path) -> None:
    at = _page(filled.dir, "docs")
    before = filled.store.counts()
    at.text_input(key="docs_path").set_value(str(tmp_path / "nowhere")).run()
    at.button[0].click().run()
    _after_job(at, lambda at: bool(at.error), allow_errors=True)
    assert "no such file or folder" in at.error[0].value and not at.success
    assert filled.store.counts() == before


def test_docs_generate_tasks_from_selected_chunks(filled: Project) -> None:
    at = _page(filled.dir, "docs")
    doc = at.session_state["doc_pick"]
    chunk = filled.store.query("SELECT id FROM chunks WHERE doc_id = ? ORDER BY ordinal", (doc,))[0][0]
    before = filled.store.counts()["tasks"]
    at.multiselect(key="chunk_pick").set_value([chunk]).run()
    next(b for b in at.button if b.label == "Generate tasks from selected chunks").click().run()
    _after_job(at, _succeeded)
    assert "1 chunks →" in at.success[0].value
    assert filled.store.counts()["tasks"] > before


def test_docs_edit_mark_heldout_and_delete_a_task(filled: Project) -> None:
    at = _page(filled.dir, "docs")
    task_id = at.session_state["task_pick"]
    at.text_area[0].set_value("List every item with its price")
    at.toggle[0].set_value(True)
    next(b for b in at.button if b.label == "Save task").click().run()
    row = filled.store.query("SELECT instruction, split FROM tasks WHERE id = ?", (task_id,))[0]
    assert tuple(row) == ("List every item with its price", "heldout")
    at.selectbox(key="task_split").set_value("heldout").run()
    assert any("List every item" in df.value.to_string() for df in at.dataframe)
    at.checkbox(key=f"confirm-{task_id}").check().run()
    next(b for b in at.button if b.label == "Delete task").click().run()
    assert not filled.store.query("SELECT 1 FROM tasks WHERE id = ?", (task_id,))


def test_rollouts_step_through_a_trajectory(filled: Project) -> None:
    web = filled.store.query("SELECT id FROM trajectories WHERE key = ?", (WEB_KEY,))[0][0]
    at = _page(filled.dir, "rollouts", traj_pick=web)
    assert at.code[0].value == "click('12')" and len(at.image) == 1
    next(b for b in at.button if b.label == "Next ▶").click().run()
    assert at.code[0].value == "fill('31', 'printer ink')"
    at.slider(key=f"step-{web}").set_value(2).run()
    assert at.code[0].value == "click('40')"
    assert "element 40 is not visible" in _texts(at)
    assert any("missing on disk" in w.value for w in at.warning)
    next(b for b in at.button if b.label == "◀ Previous").click().run()
    assert at.code[0].value == "fill('31', 'printer ink')"
    at.selectbox(key="traj_policy").set_value("llm").run()
    assert all("llm" in df.value.to_string() for df in at.dataframe)


def test_rollouts_start_a_run_in_the_background(filled: Project) -> None:
    at = _page(filled.dir, "rollouts")
    at.text_input(key="run_name").set_value("from-page")
    at.number_input[0].set_value(1)
    next(b for b in at.button if b.label == "Start in the background").click().run()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        rows = filled.store.query("SELECT status FROM runs WHERE name = 'from-page'")
        if rows and rows[0][0] == "done":
            break
        time.sleep(0.5)
    assert rows and rows[0][0] == "done"
    at.run()
    assert "from-page" in at.selectbox(key="traj_run").options


def test_backward_grid_pick_a_span_edit_and_rerun(filled: Project) -> None:
    web = filled.store.query("SELECT id FROM trajectories WHERE key = ?", (WEB_KEY,))[0][0]
    at = _page(filled.dir, "backward", bw_traj=web)
    assert len(at.get("plotly_chart")) == 1
    at.number_input(key=f"bw_j-{web}").set_value(1).run()
    assert at.subheader[0].value == "Span 0–1"
    example = filled.store.query(
        "SELECT id, instruction FROM examples WHERE trajectory_id = ? AND span_start = 0 "
        "AND span_end = 1 AND mode = 'per-span'",
        (web,),
    )[0]
    assert example["instruction"] in (at.text_area[0].value or "")
    assert "fill('31', 'printer ink')" in _texts(at)
    at.text_area[0].set_value("Search the shop for printer ink")
    next(b for b in at.button if b.label == "Save instruction").click().run()
    edits = filled.store.query("SELECT old_instruction, new_instruction, who FROM example_edits")
    assert [tuple(e) for e in edits] == [(example["instruction"], "Search the shop for printer ink", "tester")]
    assert "Search the shop for printer ink" in "\n".join(df.value.to_string() for df in at.dataframe)
    calls = "SELECT COUNT(*) FROM llm_calls WHERE purpose = 'backward-batched'"
    before = filled.store.query(calls)[0][0]
    at.radio(key="bw_run_mode").set_value("batched").run()
    next(b for b in at.button if b.label == "Run backward construction").click().run()
    _after_job(at, _succeeded)
    # the spans not yet labelled in batched mode fit in one call
    assert filled.store.query(calls)[0][0] == before + 1
    assert "1 call →" in at.success[0].value
    # and the committee judged the new examples (the job's second command): the grid shows no unjudged span
    assert "new verdicts" in at.success[0].value
    unjudged = "SELECT COUNT(*) FROM examples WHERE trajectory_id = ? AND id NOT IN (SELECT example_id FROM verdicts)"
    assert filled.store.query(unjudged, (web,))[0][0] == 0


def test_committee_override_changes_the_kept_count(filled: Project) -> None:
    at = _page(filled.dir, "committee")
    judges = len(filled.config.models.judges)
    kept = committee.kept_count(filled.store, "strict", judges)
    assert _metrics(at)["Kept (strict)"] == str(kept)
    # a dropped example that no kept example is a near-duplicate of (keeping one of those would push its
    # duplicate out, and the count would not move)
    rows = committee.decisions(filled.store, "strict", judges)
    kept_ids = {d["example_id"] for d in rows if d["kept"]}
    shadowing = {
        r[0]
        for r in filled.store.query(
            "SELECT other_id FROM similar_examples WHERE example_id IN (SELECT value FROM json_each(?))",
            (json.dumps(sorted(kept_ids)),),
        )
    }
    dropped = next(d["example_id"] for d in rows if not d["kept"] and d["example_id"] not in shadowing)
    at.radio(key="committee_show").set_value("dropped").run()
    frame = at.dataframe[0].value
    assert not frame["kept"].any() and dropped in set(frame["id"])
    at.selectbox(key="committee_pick").set_value(dropped).run()
    at.text_input(key=f"note-{dropped}").set_value("clearly accomplished").run()
    at.button(key="override_keep").click().run()
    assert _metrics(at)["Kept (strict)"] == str(kept + 1)
    assert "Override recorded" in at.success[0].value
    row = filled.store.query("SELECT verdict, who, note FROM overrides")[0]
    assert tuple(row) == ("keep", "tester", "clearly accomplished")
    agreement = "\n".join(df.value.to_string() for df in at.dataframe)
    assert "human override" in agreement and "kappa" in agreement


def test_committee_policy_selector_and_reasons(filled: Project) -> None:
    at = _page(filled.dir, "committee")
    at.segmented_control(key="committee_policy").set_value("relaxed").run()
    relaxed = committee.kept_count(filled.store, "relaxed", len(filled.config.models.judges))
    at.radio(key="committee_show").set_value("kept").run()
    frame = at.dataframe[0].value
    assert len(frame) == relaxed and frame["kept"].all()
    assert {"accomplishment verdict", "accomplishment reason", "instruction verdict"} <= set(frame.columns)
    assert frame["instruction"].str.len().min() > 3  # a judge named "instruction" does not hide the text


def test_dataset_search_filter_and_open_an_example(filled: Project) -> None:
    at = _page(filled.dir, "dataset", ds_policy="relaxed")
    total = len(at.dataframe[0].value)
    assert total == committee.kept_count(filled.store, "relaxed", len(filled.config.models.judges))
    word = at.dataframe[0].value["instruction"].iloc[0].split()[1]
    at.text_input(key="ds_search").set_value(word.upper()).run()
    frame = at.dataframe[0].value
    assert 0 < len(frame) <= total and frame["instruction"].str.lower().str.contains(word.lower()).all()
    at.text_input(key="ds_search").set_value("").run()
    at.selectbox(key="ds_env").set_value("web").run()
    at.toggle(key="ds_kept").set_value(False).run()
    assert set(at.dataframe[0].value["env"]) == {"web"}
    assert at.subheader[0].value.startswith("Example #")
    assert len(at.image) >= 1 or any("missing on disk" in w.value for w in at.warning)
    assert "click('12')" in _texts(at) or "fill('31', 'printer ink')" in _texts(at) or "click('40')" in _texts(at)


def test_dataset_export_writes_the_kept_examples(filled: Project) -> None:
    at = _page(filled.dir, "dataset", ds_policy="relaxed")
    at.selectbox(key="ds_per").set_value("example").run()
    at.button(key="ds_export").click().run()
    _after_job(at, lambda at: any("kept examples:" in c.value for c in at.code))
    assert "records in" in at.success[0].value
    out = filled.dir / "export" / "lbi-examples-relaxed.jsonl"
    lines = out.read_text().splitlines()
    assert len(lines) == committee.kept_count(filled.store, "relaxed", len(filled.config.models.judges))
    assert any("kept examples:" in c.value for c in at.code)  # the dataset card is shown


def test_retrieval_lab_lists_heldout_tasks_and_results(filled: Project) -> None:
    filled.store.add_tasks(
        [{"id": "lab-1", "instruction": "How many items?", "env": filled.config.env.name, "split": "heldout"}]
    )
    run = filled.store.start_run("eval-x", "eval")
    filled.store.add_evaluation(run_id=run, task_id="lab-1", mode="baseline", success=1)
    at = _page(filled.dir, "retrieval")
    assert any("lab-1" in str(o) for o in at.selectbox[0].options)
    frame = at.dataframe[0].value
    assert list(frame["mode"]) == ["baseline"] and frame["rate"].iloc[0] == 1.0


def test_evaluation_arms_paired_comparison_grid_and_training(evaluated: Project) -> None:
    at = _page(evaluated.dir, "evaluation")
    arms = at.dataframe[0].value
    assert list(arms["arm"]) == ["base:baseline", "base:agentic", "trained:baseline", "trained:agentic"]
    assert list(arms["successes"]) == [1, 2, 4, 5] and set(arms["n"]) == {6}
    assert list(arms["model"]) == ["fake", "fake", "fake/trained", "fake/trained"]
    assert (arms["tokens"] > 0).all() and (arms["steps"] == 12).all()
    pairs = at.dataframe[1].value.set_index("arm")
    best = pairs.loc["trained:agentic"]
    assert (best["vs"], best["tasks"], best["only arm"], best["only vs"], best["p"]) == (
        "base:baseline",
        6,
        4,
        0,
        0.125,
    )
    assert best["flipped"] == "+shop-cheapest, +shop-over-2, +shop-priciest, +shop-total"
    at.selectbox(key="ev_task").set_value("shop-total").run()
    at.selectbox(key="ev_arm").set_value("trained:baseline").run()
    assert "solved" in _markdown(at) and "answer '7.75' matches" in _texts(at)
    assert at.code[0].value == 'execute_sql("SELECT SUM(price) FROM items")'
    next(b for b in at.button if b.label == "Next ▶").click().run()
    assert at.code[0].value == "stop('7.75')"
    training = at.dataframe[-1].value
    assert list(training["run"]) == ["sft-1"] and training["tokens/s"].iloc[0] == 52.6
    assert len(at.get("plotly_chart")) == 4  # success with CI bars, the grid, cost per arm, the loss curves


def test_evaluation_compares_the_arms_chosen(evaluated: Project) -> None:
    at = _page(evaluated.dir, "evaluation")
    at.multiselect(key="ev_arms").set_value(["trained:baseline", "base:baseline"]).run()
    (pair,) = at.dataframe[1].value.to_dict("records")
    assert (pair["arm"], pair["vs"], pair["flipped"]) == (
        "base:baseline",
        "trained:baseline",
        "-shop-cheapest, -shop-priciest, -shop-total",
    )
    assert at.selectbox(key="ev_arm").options == ["trained:baseline", "base:baseline"]
    at.multiselect(key="ev_arms").set_value(["trained:baseline"]).run()
    assert "Choose two arms or more" in _markdown(at)


def test_evaluation_starts_a_run_in_the_background(evaluated: Project) -> None:
    at = _page(evaluated.dir, "evaluation")
    at.text_input(key="ev_run_name").set_value("from-page")
    at.multiselect(key="ev_modes").set_value(["baseline"])
    at.number_input[0].set_value(2)
    next(b for b in at.button if b.label == "Start in the background").click().run()
    _after_job(at, _succeeded)
    assert "from-page:baseline" in list(at.dataframe[0].value["arm"])
    assert evals.eval_models(evaluated.store, "from-page") == [evaluated.config.models.for_role("agent")]


def test_evaluation_starts_a_training_run_and_shows_why_it_cannot_train(project: Project) -> None:
    """The form starts `lbi train` as a job; with nothing kept, its one-line error reaches the page."""
    at = _page(project.dir, "evaluation")
    at.text_input(key="tr_name").set_value("from-page")
    next(b for b in at.button if b.label == "Train in the background").click().run()
    _after_job(at, lambda a: bool(a.error), allow_errors=True)
    assert "no kept examples to train on" in at.error[0].value
    assert at.session_state["jobs"][-1].name == "train-from-page"
    assert read.train_runs(project.store) == []  # a run that cannot start leaves no record


def test_hostile_text_never_reaches_markdown(filled: Project) -> None:
    tid = filled.store.query("SELECT id FROM trajectories WHERE key = ?", (WEB_KEY,))[0][0]
    ex = filled.store.query("SELECT id FROM examples WHERE trajectory_id = ? ORDER BY id", (tid,))[0][0]
    filled.store.edit_example(ex, EVIL, who="attacker")
    for page, state in [
        ("dataset", {"ds_kept": False, "ds_env": "web"}),
        ("committee", {}),
        ("backward", {"bw_traj": tid}),
    ]:
        at = _page(filled.dir, page, **state)
        assert "<script>" not in _markdown(at) and "](http://evil.test)" not in _markdown(at)


def test_rollouts_replay_a_coding_trajectory_with_the_diff_so_far(project: Project, tmp_path: Path) -> None:
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
    at = _page(project.dir, "rollouts", traj_pick=tid)
    assert at.code[0].value.startswith("bash('grep") and "6:    return a + b" in at.code[1].value
    assert at.code[2].value == "(no changes yet)"
    next(b for b in at.button if b.label == "Next ▶").click().run()
    assert "[diff so far: 1 file(s)]" in at.code[2].value and "+    return b + a" in at.code[2].value
    at.slider(key=f"step-{tid}").set_value(2).run()
    assert at.code[1].value.startswith("Submitted the diff of 1 file(s)") and "+    return b + a" in at.code[2].value
