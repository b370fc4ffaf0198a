"""The Review page beside each judge's verdict on the example under review: how far the judge can be trusted (the
figures the Committee page shows, from the shipped `data/judge_bench/quality.json`, read once and cached), and the
example's leak flag with Allow / Keep out — on a store filled by the real pipeline (fake model, SQLite env)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from streamlit.testing.v1 import AppTest

from lbi import verdicts_ui
from lbi.project import Project, open_project
from lbi.store import leaks
from lbi.synth import trust
from tests.pages import fixtures as pages_fixtures
from tests.pages.test_curation_pages import _linked

filled_template = pages_fixtures.filled_template
filled = pages_fixtures.filled


def _verdicts(at: AppTest) -> dict[str, dict[str, str]]:
    frame = next(df.value for df in at.dataframe if "trust (judge benchmark)" in df.value.columns)
    assert list(frame.columns) == ["judge", "verdict", "trust (judge benchmark)", "reason"]
    return {r["judge"]: r for r in frame.to_dict("records")}


def test_each_verdict_under_review_shows_how_far_its_judge_can_be_trusted(filled: Project) -> None:
    quality = trust.load()
    assert quality is not None and "sql" in quality.envs
    grounding = quality.figure("grounding", "sql")
    assert grounding is not None
    example = filled.store.query("SELECT MIN(example_id) FROM verdicts WHERE judge = 'grounding'")[0][0]
    at = _linked(filled.dir, "review", queue="all", example=example)
    assert {m.label: m.value for m in at.metric}["Example"] == f"#{example}"
    rows = _verdicts(at)
    assert set(rows) == {
        v["judge"] for v in filled.store.query("SELECT judge FROM verdicts WHERE example_id = ?", (example,))
    }
    shown = rows["grounding"]["trust (judge benchmark)"]
    assert shown == trust.Trust("grounding", "grounding", grounding, "sql").short()
    assert shown.startswith(f"P {trust.percent(grounding.precision, grounding.precision_ci)} · R ")
    if quality.model:  # the model judges were measured, on another model than this project's (`fake`)
        assert rows["accomplishment"]["trust (judge benchmark)"] == (
            f"not measured: the benchmark ran the model judges on {quality.model}, not fake"
        )
    captions = " ".join(c.value for c in at.caption)
    assert quality.commit in captions and "judge benchmark" in captions

    at.button(key="rv_skip").click().run()  # the next example's verdicts carry the figures too (the cached file)
    assert _verdicts(at)["grounding"]["trust (judge benchmark)"] == shown


def test_the_quality_file_is_read_once_per_change(tmp_path: Path) -> None:
    path = tmp_path / "quality.json"
    shutil.copy(trust.QUALITY_PATH, path)
    first = verdicts_ui.quality(path)
    assert first is not None and verdicts_ui.quality(path) is first  # not read again on the next rerun
    changed = first.model_copy(update={"commit": "0" * 7})
    path.write_text(trust.dump(changed), encoding="utf-8")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert verdicts_ui.quality(path) == changed  # read again once it changed
    assert verdicts_ui.quality(tmp_path / "gone.json") is None


def test_a_flagged_example_under_review_shows_the_flag_and_a_person_decides_on_it(filled: Project) -> None:
    store = filled.store
    example, _ = pages_fixtures.flag_a_leak(filled)  # a held-out task that asks what this example asks
    assert str(example) in leaks.blocked(store, "example")

    at = _linked(filled.dir, "review", queue="filtered", example=example)  # kept out: filtered out under every policy
    assert {m.label: m.value for m in at.metric}["Example"] == f"#{example}"
    warning = at.warning[0].value
    assert "shop\\-held\\-1" in warning and "ngram 1\\.0" in warning and "kept out of training" in warning
    assert any("kept out by the leakage check" in c.value for c in at.caption)

    at.text_input(key="rv_note").set_value("the shop's counts are public").run()
    at.button(key="leak_allow").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert str(example) not in leaks.blocked(open_project(filled.dir).store, "example")
    rows = store.query("SELECT kind, item, verdict, who, note FROM leak_overrides")
    assert [tuple(r) for r in rows] == [("example", str(example), "allow", "tester", "the shop's counts are public")]
    assert {m.label: m.value for m in at.metric}["Example"] == f"#{example}"  # still on it: no keep or drop made
    assert at.text_input(key="rv_note").value == "" and not store.query("SELECT 1 FROM overrides")
    assert any("allowed despite the leak flag" in t.value for t in at.toast)
    assert "allowed" in at.info[0].value and at.button(key="leak_allow").disabled

    at.button(key="leak_block").click().run()  # and back: kept out as a leak
    assert str(example) in leaks.blocked(open_project(filled.dir).store, "example")
    assert [r[0] for r in store.query("SELECT verdict FROM leak_overrides ORDER BY id")] == ["allow", "block"]
