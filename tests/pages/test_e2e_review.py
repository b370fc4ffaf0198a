"""The Review and Clusters pages in the running workbench, driven in Debian's Chromium: 20 filtered-out examples
reviewed with the keyboard alone (the overrides checked in the store), a deep link as the first request, a cluster
view and a lineage panel. Screenshots go to `test-artifacts/screenshots/review-*.png`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lbi.project import Project
from lbi.store.queues import QueueSpec, queue_ids
from tests.pages.fixtures import WEB_KEY, add_evaluations
from tests.pages.test_e2e_app import _settle, _shoot, _streamlit, browser, e2e_project, expect, page, server

pytestmark = pytest.mark.browser
__all__ = ["browser", "e2e_project", "page", "server"]  # the fixtures, shared with test_e2e_app (a server per module)
RESULT = Path(__file__).resolve().parents[2] / "test-artifacts" / "review_keyboard.json"


def _metric(page, label: str):  # noqa: ANN001, ANN202 - a playwright Locator
    return (
        page.locator('[data-testid="stMetric"]').filter(has_text=label).first.locator('[data-testid="stMetricValue"]')
    )


def test_review_20_filtered_out_examples_with_the_keyboard_alone(
    page,
    server: str,  # noqa: ANN001
    e2e_project: Project,
) -> None:
    store = e2e_project.store
    queue = queue_ids(store, QueueSpec(kind="filtered", unreviewed=True), len(e2e_project.config.models.judges))
    assert len(queue) >= 21
    before = store.query("SELECT COALESCE(MAX(id), 0) FROM overrides")[0][0]
    page.goto(f"{server}/review?queue=filtered&unreviewed=1")
    expect(_metric(page, "Example")).to_have_text(f"#{queue[0]}")
    _settle(page)
    keys = ["k" if n % 3 == 0 else "d" for n in range(20)]
    started = time.perf_counter()
    for n, key in enumerate(keys):
        page.keyboard.press(key)
        expect(_metric(page, "Example")).to_have_text(f"#{queue[n + 1]}")
    page.keyboard.press("u")  # undo the 20th: back on it
    expect(_metric(page, "Example")).to_have_text(f"#{queue[19]}")
    page.keyboard.press(keys[19])
    expect(_metric(page, "Example")).to_have_text(f"#{queue[20]}")
    _settle(page)
    seconds = time.perf_counter() - started
    rows = store.query(
        "SELECT example_id, verdict, who, batch FROM overrides WHERE id > ? AND undone_at IS NULL ORDER BY id",
        (before,),
    )
    assert [(r[0], r[1]) for r in rows] == [(queue[n], "keep" if k == "k" else "drop") for n, k in enumerate(keys)]
    assert {r[2] for r in rows} == {"e2e-tester"} and {r[3] for r in rows} == {None}
    undone = store.query(
        "SELECT example_id, undone_by FROM overrides WHERE id > ? AND undone_at IS NOT NULL", (before,)
    )
    assert [tuple(r) for r in undone] == [(queue[19], "e2e-tester")]
    expect(page.get_by_text("21 decided here").or_(page.get_by_text("20 decided here")).first).to_be_visible()
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(
        json.dumps(
            {
                "decisions": 20,
                "keys": len(keys) + 2,
                "seconds": round(seconds, 2),
                "seconds_per_decision": round(seconds / 21, 3),
            }
        )
        + "\n"
    )
    presses = len(keys) + 2
    print(f"\nkeyboard review: 20 decisions, {presses} keys, in {seconds:.2f} s ({seconds / presses:.3f} s a key)")
    _shoot(page, "review-queue")


def test_review_a_web_example(page, server: str, e2e_project: Project) -> None:  # noqa: ANN001
    store = e2e_project.store
    web = store.query("SELECT id FROM trajectories WHERE key = ?", (WEB_KEY,))[0][0]
    example = store.query(
        "SELECT id FROM examples WHERE trajectory_id = ? AND span_start = 0 AND span_end = 1 AND mode = 'per-span'",
        (web,),
    )[0][0]
    page.goto(f"{server}/review?queue=trajectory&trajectory={web}&example={example}")
    expect(_metric(page, "Example")).to_have_text(f"#{example}")
    expect(page.locator('[data-testid="stImage"] img').nth(1)).to_be_visible()
    _shoot(page, "review-web")
    page.get_by_text("Lineage: where this example came from").click()
    link = page.get_by_role("link", name="This span on the Backward page")
    expect(link).to_be_visible()
    _settle(page)
    link.click()
    expect(page.get_by_role("heading", name="Span 0–1")).to_be_visible()


def test_the_lineage_of_an_example_a_model_was_trained_on(
    page,
    server: str,  # noqa: ANN001
    e2e_project: Project,
) -> None:
    add_evaluations(e2e_project)  # held-out tasks, base and trained eval runs, the training run between them
    trained_on = json.loads(e2e_project.store.query("SELECT examples_json FROM train_runs")[0][0])
    page.goto(f"{server}/review?queue=all&example={trained_on[0]}")
    expect(_metric(page, "Example")).to_have_text(f"#{trained_on[0]}")
    page.get_by_text("Lineage: where this example came from").click()
    expect(page.get_by_text("Its evaluation (trained:")).to_be_visible()
    page.set_viewport_size({"width": 1400, "height": 3400})  # the whole page: Streamlit scrolls inside the viewport
    page.get_by_text("Lineage: where this example came from").scroll_into_view_if_needed()
    _shoot(page, "review-lineage")
    page.get_by_role("link", name="Its evaluation (trained:baseline)").click()
    expect(page.get_by_role("heading", name="Tasks × arms")).to_be_visible()


def test_the_cluster_view_after_a_clustering(page, server: str, e2e_project: Project) -> None:  # noqa: ANN001
    done = subprocess.run(
        [sys.executable, "-m", "lbi.cli", "curate", "cluster", "-p", str(e2e_project.dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    page.goto(f"{server}/clusters?cluster=0")
    expect(page.get_by_role("heading", name="Cluster 0")).to_be_visible()
    expect(_metric(page, "Examples")).to_have_text("10")
    _shoot(page, "clusters")
    page.get_by_text("Review this cluster one example at a time").click()
    expect(page.get_by_role("heading", name="Review")).to_be_visible()
    expect(page.get_by_text("Cluster 0 · example 1 of 10")).to_be_visible()


def test_a_review_link_as_the_first_request(browser, e2e_project: Project, tmp_path: Path) -> None:  # noqa: ANN001
    example = e2e_project.store.query("SELECT MAX(id) FROM examples")[0][0]
    with _streamlit(e2e_project, tmp_path / "server.log") as url:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        tab = context.new_page()
        tab.goto(f"{url}/review?queue=all&example={example}")
        expect(_metric(tab, "Example")).to_have_text(f"#{example}")
        expect(tab.get_by_role("textbox", name="Your name")).to_be_visible()
        expect(tab.locator('[data-testid="stCode"]').filter(has_text=f"example={example}").first).to_be_visible()
        context.close()
