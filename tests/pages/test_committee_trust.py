"""The Committee page beside each judge's verdicts: how far it can be trusted (its measured precision and recall on
the judge benchmark, read from the shipped `data/judge_bench/quality.json`), and the examples the leakage check
flagged, with a person's decision on them — on a store filled by the real pipeline (fake model, SQLite env)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from streamlit.testing.v1 import AppTest

from lbi.config import LOCAL_MODEL, JudgeSpec, save_config
from lbi.project import Project, open_project
from lbi.store import committee, leaks
from lbi.synth import trust
from tests.conftest import ROOT
from tests.pages import fixtures as pages_fixtures
from tests.pages.test_curation_pages import _linked

filled_template = pages_fixtures.filled_template
filled = pages_fixtures.filled


def _page(project_dir: Path) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["project_dir"] = str(project_dir)
    at.session_state["who"] = "tester"
    at.run()
    at.switch_page("pages/committee.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_each_judge_shows_its_measured_figures_or_not_measured(filled: Project) -> None:
    # a judge the benchmark has no figures for, beside the default committee (its model judges run on `fake`)
    filled.config.models.judges.append(JudgeSpec(name="vibes", focus="overall"))
    save_config(filled.dir, filled.config)
    at = _page(filled.dir)
    quality = trust.load()
    assert quality is not None and "sql" in quality.envs
    measured = next(df.value for df in at.dataframe if "measured as" in df.value.columns)
    table = {r["judge"]: r for r in measured.to_dict("records")}
    grounding = quality.figure("grounding", "sql")
    assert grounding is not None
    assert table["grounding"]["on"] == "sql" and table["grounding"]["n"] == grounding.n
    assert table["grounding"]["precision"] == trust.percent(grounding.precision, grounding.precision_ci)
    assert table["grounding"]["recall"] == trust.percent(grounding.recall, grounding.recall_ci)
    assert table["vibes"]["precision"] == "not measured" and "no judge with focus 'overall'" in table["vibes"]["on"]
    if quality.model:  # the model judges were measured, on another model than this project's
        assert f"on {quality.model}, not fake" in table["accomplishment"]["on"]
    captions = " ".join(c.value for c in at.caption)
    assert quality.commit in captions and "bench/judge_quality.py" in captions

    # beside an example's verdicts too
    verdicts = next(df.value for df in at.dataframe if "trust (judge benchmark)" in df.value.columns)
    assert list(verdicts.columns) == ["judge", "verdict", "trust (judge benchmark)", "reason"]
    trusted = dict(zip(verdicts["judge"], verdicts["trust (judge benchmark)"], strict=True))
    assert trusted["grounding"].startswith(f"P {trust.percent(grounding.precision, grounding.precision_ci)}")
    assert trusted["accomplishment"].startswith("not measured")


def test_a_flagged_example_is_marked_and_a_person_can_allow_it(filled: Project) -> None:
    store = filled.store
    example, same = pages_fixtures.flag_a_leak(filled)  # a held-out task that asks what this example asks
    assert leaks.blocked(store, "example") == same  # it and any example asking the same (the fake model repeats)

    at = _page(filled.dir)
    at.toggle(key="committee_leaks").set_value(True).run()
    frame = at.dataframe[0].value
    assert {str(i) for i in frame["id"]} == same and frame["leaked"].all()
    assert frame["leak"].str.contains("shop-held-1 (ngram 1.0)", regex=False).all()
    at.selectbox(key="committee_pick").set_value(example).run()
    assert "shop\\-held\\-1" in at.warning[0].value and "kept out of training" in at.warning[0].value

    at.text_input(key=f"note-{example}").set_value("the shop's counts are public").run()
    at.button(key="leak_allow").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert leaks.blocked(open_project(filled.dir).store, "example") == same - {str(example)}
    decision = store.query("SELECT kind, item, verdict, who, note FROM leak_overrides")
    note = "the shop's counts are public"
    assert [tuple(r) for r in decision] == [("example", str(example), "allow", "tester", note)]
    assert "allowed despite the leak flag" in at.success[0].value
    assert "allowed" in at.info[-1].value and at.button(key="leak_block").disabled is False


def test_the_share_link_carries_only_leak_flags(filled: Project) -> None:
    _, flagged = pages_fixtures.flag_a_leak(filled)
    at = _page(filled.dir)
    at.toggle(key="committee_leaks").set_value(True).run()
    assert parse_qs(urlsplit(at.code[-1].value).query)["leaks"] == ["1"]

    at = _linked(filled.dir, "committee", leaks=1, show="dropped")  # the link opened in a new session
    assert at.toggle(key="committee_leaks").value is True and at.radio(key="committee_show").value == "dropped"
    assert {str(i) for i in at.dataframe[0].value["id"]} == flagged
    assert {k: v for k, v in parse_qs(urlsplit(at.code[-1].value).query).items() if k != "example"} == {
        "show": ["dropped"],
        "leaks": ["1"],
    }
    at.toggle(key="committee_leaks").set_value(False).run()  # and off again: the link drops it
    assert "leaks" not in at.code[-1].value and len(at.dataframe[0].value) > len(flagged)


def test_a_judge_measured_at_chance_is_shown_not_counted(filled: Project) -> None:
    """On the embedded model the benchmark measured the model judges at chance in SQL: the page says who decides,
    marks them `votes: no`, and its kept counts and the `yes` column count grounding alone."""
    filled.config.models.default = LOCAL_MODEL
    save_config(filled.dir, filled.config)
    assert trust.voters(filled.config) == ("grounding",)
    example = filled.store.query("SELECT MIN(id) FROM examples")[0][0]
    filled.store.set_verdict(example, "grounding", True, "acted on the items table")
    for name in ("accomplishment", "instruction", "efficiency"):
        filled.store.set_verdict(example, name, False, "The task is not complete.")
    assert committee.kept_ids(filled.store, "strict", 4) == []  # the four would drop it
    at = _page(filled.dir)
    captions = " ".join(c.value for c in at.caption).replace("\\", "")  # as rendered (Markdown escapes gone)
    assert "Who decides: voting: grounding; not voting: accomplishment (measured at chance: precision" in captions
    measured = next(df.value for df in at.dataframe if "measured as" in df.value.columns)
    votes = dict(zip(measured["judge"], measured["votes"], strict=True))
    assert votes["grounding"] == "yes" and votes["accomplishment"] == votes["efficiency"] == "no"
    grounded = set(committee.kept_ids(filled.store, "strict", ("grounding",)))
    assert example in grounded and at.metric[1].value == str(len(grounded))
    frame = at.dataframe[0].value
    assert set(frame["yes"]) <= {"0/1", "1/1"}
    assert {int(i) for i in frame[frame["kept"]]["id"]} == grounded
