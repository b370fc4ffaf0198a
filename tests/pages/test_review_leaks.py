"""The Review page's leak flags queue: the examples the leakage check flagged, undecided first, each with what its
flag matched (the held-out task, the measure, the score), decided with Allow (A) / Keep out (O) — a leak decision that
training honours — and undone with U; opened from a link and from the Committee page's leak filter. On a store
filled by the real pipeline (fake model, SQLite env) and the real leakage check."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from streamlit.testing.v1 import AppTest

from lbi.project import Project, open_project
from lbi.store import leaks
from lbi.train.data import training_data
from tests.pages import fixtures as pages_fixtures
from tests.pages.test_committee_trust import _page
from tests.pages.test_curation_pages import _linked

filled_template = pages_fixtures.filled_template
filled = pages_fixtures.filled


def _on(at: AppTest) -> str:
    return {m.label: m.value for m in at.metric}["Example"]


def _trained(project: Project) -> set[int]:
    """The examples `lbi train` would train on now (read afresh from the store)."""
    return set(training_data(open_project(project.dir)).example_ids)


def _flagged(project: Project) -> tuple[int, int]:
    """Two examples the leakage check flags (the same instruction as held-out task shop-held-1), each with a keep
    override: the committee would keep them, only the leak keeps them out. A clean example is kept too (so there is
    something to train on whatever is decided)."""
    example, same = pages_fixtures.flag_a_leak(project)
    assert len(same) == 2, same  # the fake model repeats an instruction: the check flags both
    (other,) = {int(i) for i in same} - {example}
    clean = project.store.query("SELECT MAX(id) FROM examples")[0][0]
    for i in (example, other, clean):
        project.store.add_override(i, "keep", who="tester")
    assert _trained(project) == {clean}, "a keep override does not let a leak through"
    return example, other


def test_the_queue_lists_the_flags_and_allow_or_keep_out_decides_what_training_uses(filled: Project) -> None:
    store = filled.store
    example, other = _flagged(filled)

    at = _linked(filled.dir, "review", queue="leaks")
    assert at.selectbox(key="rv_kind").value == "leaks" and at.selectbox(key="rv_leaks").value == "all"
    assert at.session_state["rv_review"].ids == [example, other]  # exactly the flagged examples
    assert _on(at) == f"#{example}"
    # what the flag matched: the held-out task and its instruction, the measure, the score against its threshold
    instruction = store.query("SELECT instruction FROM examples WHERE id = ?", (example,))[0][0]
    held_out = "Held-out task **{}**:".format(pages_fixtures.HELD_OUT_LEAK.replace("-", "\\-"))  # escaped
    assert any(m.value.startswith(held_out) for m in at.markdown), [m.value for m in at.markdown]
    frame = next(df.value for df in at.dataframe if "threshold" in df.value.columns)
    ngram = frame[frame["measure"] == "ngram"].iloc[0]
    assert (ngram["score"], ngram["threshold"], ngram["matched text"]) == (1.0, "≥ 0.8", instruction)
    assert "kept out of training" in at.warning[0].value
    # the keys: A allow, O keep out (Keep/Drop belong to the other queues)
    keys = {b.key: b.proto.shortcut for b in at.button if b.key in ("rv_allow", "rv_block", "rv_keep", "rv_drop")}
    assert keys == {"rv_allow": "a", "rv_block": "o"}  # as Streamlit stores them
    assert any("A allow · O keep out" in c.value for c in at.caption)

    at.text_input(key="rv_note").set_value("the shop's counts are public").run()
    at.button(key="rv_allow").click().run()
    assert not at.exception, [e.value for e in at.exception]
    rows = store.query("SELECT kind, item, verdict, who, note FROM leak_overrides")
    assert [tuple(r) for r in rows] == [("example", str(example), "allow", "tester", "the shop's counts are public")]
    assert example in _trained(filled) and other not in _trained(filled)  # allowed: trained on; the other still out
    assert _on(at) == f"#{other}" and at.text_input(key="rv_note").value == ""  # on to the next flag
    assert any("allowed despite the leak flag" in t.value for t in at.toast)

    at.button(key="rv_block").click().run()
    assert [r[0] for r in store.query("SELECT verdict FROM leak_overrides ORDER BY id")] == ["allow", "block"]
    assert other not in _trained(filled)
    assert "Done" in at.success[0].value and "2 decided here" in at.success[0].value
    assert store.query("SELECT COUNT(*) FROM overrides")[0][0] == 3, "no keep or drop was recorded"

    at.button(key="rv_undo").click().run()  # the keep out: back on it, undecided again
    assert _on(at) == f"#{other}" and any(f"Undid keep out on #{other}" in t.value for t in at.toast)
    at.button(key="rv_undo").click().run()  # the allow: back on the first, kept out by its flag again
    assert _on(at) == f"#{example}" and not _trained(filled) & {example, other}
    assert leaks.blocked(store, "example") == {str(example), str(other)}
    assert store.query("SELECT COUNT(*) FROM leak_overrides WHERE undone_by = 'tester'")[0][0] == 2  # on record


def test_the_queue_opens_from_a_link_and_from_the_committee_pages_leak_filter(filled: Project) -> None:
    example, other = _flagged(filled)
    filled.store.add_leak_override("example", str(other), "allow", who="tester")

    at = _linked(filled.dir, "review", queue="leaks", leaks="allowed")
    assert at.selectbox(key="rv_leaks").value == "allowed"
    assert at.session_state["rv_review"].ids == [other] and _on(at) == f"#{other}"
    assert "allowed" in at.info[0].value and "allow by tester" in at.info[0].value
    shared = parse_qs(urlsplit(at.code[-1].value).query)
    assert (shared["queue"], shared["leaks"], shared["example"]) == (["leaks"], ["allowed"], [str(other)])

    at.selectbox(key="rv_leaks").set_value("undecided").run()  # the sub-choice picks the flags to go through
    assert at.session_state["rv_review"].ids == [example] and _on(at) == f"#{example}"
    at.selectbox(key="rv_leaks").set_value("all").run()  # undecided first, then the decided
    assert at.session_state["rv_review"].ids == [example, other]

    at = _page(filled.dir)
    at.toggle(key="committee_leaks").set_value(True).run()
    (link,) = [link for link in at.get("page_link") if link.proto.page == "review"]
    assert parse_qs(link.proto.query_string) == {"queue": ["leaks"]}
