"""The running workbench (`streamlit run app.py`) driven in Debian's Chromium with Playwright.

One server for the module, on a project filled by the real pipeline (fake model). Each page is
opened, its main action performed and checked, and a full-page screenshot saved to
`test-artifacts/screenshots/<page>.png`.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import playwright.sync_api as playwright_sync
import pytest

from lbi.project import Project, open_project
from tests.conftest import ROOT
from tests.pages.fixtures import EVIL, WEB_KEY, add_evaluations, build_project
from tests.tiers import starts

expect = playwright_sync.expect
expect.set_options(timeout=20_000)
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]
SHOTS = ROOT / "test-artifacts" / "screenshots"
TIMEOUT_MS = 30_000

pytestmark = pytest.mark.browser  # a missing Chromium fails these in one line (tests/tiers.py), never skips them


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return port if port not in (8501, 8742) else _free_port()


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not become healthy in {timeout}s")


@pytest.fixture(scope="module")
def e2e_project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    root = tmp_path_factory.mktemp("e2e")
    build_project(root)
    evil = root / "evil-docs" / "evil.md"
    evil.parent.mkdir()
    evil.write_text(EVIL)
    return open_project(root / "proj")


@contextmanager
def _streamlit(project: Project, log: Path) -> Iterator[str]:
    """`streamlit run app.py` on a free loopback port; yields its URL, stops it at the end."""
    port = _free_port()
    env = {
        **os.environ,
        "LBI_PROJECT": str(project.dir),
        "USER": "e2e-tester",
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                str(ROOT / "app.py"),
                "--server.headless",
                "true",
                "--server.address",
                "127.0.0.1",
                "--server.port",
                str(port),
                "--server.runOnSave",
                "false",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def server(e2e_project: Project, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with _streamlit(e2e_project, tmp_path_factory.mktemp("streamlit") / "server.log") as url:
        yield url


@pytest.fixture(scope="module")
@starts("browser")
def browser() -> Iterator[object]:
    """Debian's Chromium through lbi's BrowserSession, which shares the thread's one Playwright driver
    with the environment tests' browser (a second sync_playwright() in a thread fails)."""
    from lbi.envs.web.browser import BrowserSession

    session = BrowserSession()
    yield session.browser
    session.close()


@pytest.fixture
def page(browser, server: str) -> Iterator[object]:  # noqa: ANN001 - playwright Browser
    context = browser.new_context(viewport={"width": 1400, "height": 2000})
    tab = context.new_page()
    tab.set_default_timeout(TIMEOUT_MS)
    tab.dialogs = []
    tab.on("dialog", lambda dialog: (tab.dialogs.append(dialog.message), dialog.dismiss()))
    yield tab
    context.close()


def _open(page, server: str, path: str, heading: str) -> None:  # noqa: ANN001
    page.goto(f"{server}/{path}")
    expect(page.get_by_role("heading", name=heading).first).to_be_visible()
    _settle(page)


def _settle(page) -> None:  # noqa: ANN001
    """Wait until Streamlit has finished the current script run."""
    page.wait_for_timeout(300)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=TIMEOUT_MS)


def _shoot(page, name: str) -> None:  # noqa: ANN001
    SHOTS.mkdir(parents=True, exist_ok=True)
    _settle(page)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _choose(page, label: str, option: str) -> None:  # noqa: ANN001
    """Pick an option of a Streamlit selectbox by typing part of it."""
    box = page.get_by_label(label, exact=True).first
    box.click()
    page.get_by_role("option", name=re.compile(re.escape(option))).first.click()
    _settle(page)


def _literal(page, text: str):  # noqa: ANN001, ANN202 - a playwright Locator
    """Where `text` appears as plain text in a text or code element (not inside the canvas data grid)."""
    return page.locator('[data-testid="stText"], [data-testid="stCode"]').filter(has_text=text).first


def _metric(page, label: str) -> str:  # noqa: ANN001
    card = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return card.locator('[data-testid="stMetricValue"]').inner_text().strip()


def test_overview(page, server: str) -> None:  # noqa: ANN001
    _open(page, server, "", "lbi workbench")
    expect(page.get_by_text("Funnel")).to_be_visible()
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    assert _metric(page, "Environment") == "sql"
    _shoot(page, "overview")


def test_docs_add_by_path_and_hostile_text_stays_text(page, server: str, e2e_project: Project) -> None:  # noqa: ANN001
    _open(page, server, "docs", "Docs and tasks")
    evil = e2e_project.dir.parent / "evil-docs"
    page.get_by_label("Path").fill(str(evil))
    page.get_by_label("Path").press("Enter")
    _settle(page)
    page.get_by_role("button", name="Add path").click()
    expect(page.get_by_text("1 new documents")).to_be_visible()
    _choose(page, "Open a document", "Evil page")
    for attempt in range(3):  # under load a rerun can redraw the list under the click: pick again
        page.get_by_label("Chunks to generate tasks from").click()
        page.get_by_role("option").first.click()
        page.keyboard.press("Escape")
        _settle(page)
        try:
            expect(page.get_by_text("Text of 1 selected chunk(s)")).to_be_visible(timeout=10_000)
            break
        except AssertionError:
            if attempt == 2:
                raise
    page.get_by_text("Text of 1 selected chunk(s)").click()
    expect(_literal(page, "<script>alert(1)</script>")).to_be_visible()
    expect(_literal(page, "<img src=x onerror=alert(2)>")).to_be_visible()
    assert page.locator("main img[src='x']").count() == 0
    page.wait_for_timeout(500)
    assert page.dialogs == []
    _shoot(page, "docs")


def test_rollouts_step_through_with_next(page, server: str, e2e_project: Project) -> None:  # noqa: ANN001
    web = e2e_project.store.query("SELECT id FROM trajectories WHERE key = ?", (WEB_KEY,))[0][0]
    _open(page, server, "rollouts", "Rollouts")
    _choose(page, "Watch a trajectory", f"#{web} ")
    code = page.locator('[data-testid="stCode"]').first
    expect(code).to_contain_text("click('12')")
    page.get_by_role("button", name="Next ▶").click()
    expect(code).to_contain_text("fill('31', 'printer ink')")
    expect(page.locator('[data-testid="stImage"] img').first).to_be_visible()
    _shoot(page, "rollouts")


def test_rollouts_start_a_run_and_see_it_appear(page, server: str, e2e_project: Project) -> None:  # noqa: ANN001
    _open(page, server, "rollouts", "Rollouts")
    page.get_by_text("Start a run").click()
    page.get_by_label("Run name").fill("e2e-run")
    page.get_by_role("button", name="Start in the background").click()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        rows = e2e_project.store.query("SELECT status FROM runs WHERE name = 'e2e-run'")
        if rows and rows[0][0] == "done":
            break
        time.sleep(0.5)
    assert rows and rows[0][0] == "done"
    page.reload()
    _settle(page)
    _choose(page, "Run", "e2e-run")
    expect(page.get_by_role("combobox", name="Watch a trajectory")).to_have_value(re.compile("e2e-run"))


def test_backward_click_a_span_cell(page, server: str, e2e_project: Project) -> None:  # noqa: ANN001
    web = e2e_project.store.query("SELECT id FROM trajectories WHERE key = ?", (WEB_KEY,))[0][0]
    _open(page, server, "backward", "Backward construction")
    _choose(page, "Trajectory", f"#{web} ")
    expect(page.get_by_role("heading", name="Span 0–0")).to_be_visible()
    points = page.locator(".js-plotly-plot .scatterlayer path.point")
    expect(points).to_have_count(6)  # L(L+1)/2 spans for L = 3 (waits out the previous trajectory's grid)
    boxes = [points.nth(k).bounding_box() for k in range(points.count())]
    corner = max(range(len(boxes)), key=lambda k: (boxes[k]["x"], boxes[k]["y"]))  # column 2, row 2
    box = boxes[corner]
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(page.get_by_role("heading", name="Span 2–2")).to_be_visible()
    _settle(page)
    page.get_by_label("start i").fill("0")
    page.get_by_label("start i").press("Enter")
    _settle(page)
    page.get_by_label("end j").fill("1")
    page.get_by_label("end j").press("Enter")
    expect(page.get_by_role("heading", name="Span 0–1")).to_be_visible()
    _shoot(page, "backward")


def test_committee_override_changes_the_kept_count(page, server: str) -> None:  # noqa: ANN001
    _open(page, server, "committee", "Committee")
    before = int(_metric(page, "Kept (strict)"))
    page.get_by_text("Filtered out (audit)").click()
    _settle(page)
    page.get_by_label("Note (why)").fill("accomplished after all")
    page.get_by_label("Note (why)").press("Enter")
    _settle(page)
    page.get_by_role("button", name="Keep", exact=True).click()
    expect(page.get_by_text("Override recorded")).to_be_visible()
    assert int(_metric(page, "Kept (strict)")) == before + 1
    _shoot(page, "committee")


def test_dataset_search_and_open(page, server: str, e2e_project: Project) -> None:  # noqa: ANN001
    tid = e2e_project.store.query("SELECT id FROM trajectories WHERE key = ?", (WEB_KEY,))[0][0]
    example = e2e_project.store.query("SELECT id FROM examples WHERE trajectory_id = ? ORDER BY id", (tid,))[0][0]
    e2e_project.store.edit_example(example, EVIL, who="attacker")
    e2e_project.store.add_override(example, "keep", who="attacker")
    _open(page, server, "dataset", "Dataset")
    page.get_by_label("Search instructions").fill("evil page")
    page.get_by_label("Search instructions").press("Enter")
    expect(page.get_by_text("1 examples match")).to_be_visible()
    expect(page.get_by_role("heading", name=f"Example #{example}")).to_be_visible()
    expect(_literal(page, "<script>alert(1)</script>")).to_be_visible()
    expect(page.locator('[data-testid="stImage"] img').first).to_be_visible()
    page.wait_for_timeout(500)
    assert page.dialogs == []
    page.get_by_label("Search instructions").fill("")
    page.get_by_label("Search instructions").press("Enter")
    _settle(page)
    _shoot(page, "dataset")


def test_evaluation_click_a_grid_cell_to_open_its_trajectory(page, server: str, e2e_project: Project) -> None:  # noqa: ANN001
    add_evaluations(e2e_project)
    _open(page, server, "evaluation", "Evaluation")
    expect(page.get_by_role("heading", name="Tasks × arms")).to_be_visible()
    charts = page.locator('[data-testid="stPlotlyChart"]')
    expect(charts).to_have_count(4)  # success per arm, the grid, cost per arm, loss curves
    points = charts.nth(1).locator(".scatterlayer path.point")
    expect(points).to_have_count(6 * 4 + 1)  # 6 tasks × 4 arms, and the outline of the selected cell
    boxes = [points.nth(k).bounding_box() for k in range(points.count())]
    corner = max(range(len(boxes)), key=lambda k: (boxes[k]["x"], -boxes[k]["y"]))  # the first task, last arm
    box = boxes[corner]
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(page.get_by_text("shop-cheapest · trained:agentic: solved")).to_be_visible()
    _settle(page)  # the click's rerun has finished, so the next click sends the cell it chose
    expect(page.locator('[data-testid="stCode"]').filter(has_text="execute_sql(").first).to_be_visible()
    page.get_by_role("button", name="Next ▶").click()
    expect(page.locator('[data-testid="stCode"]').filter(has_text="stop('pen')").first).to_be_visible()
    page.set_viewport_size({"width": 1400, "height": 3600})  # the whole page: Streamlit scrolls inside the viewport
    _shoot(page, "evaluation")


def test_a_deep_link_as_the_first_request_still_gets_the_navigation(
    browser,
    e2e_project: Project,  # noqa: ANN001
    tmp_path: Path,
) -> None:
    with _streamlit(e2e_project, tmp_path / "server.log") as url:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        tab = context.new_page()
        tab.set_default_timeout(TIMEOUT_MS)
        tab.goto(f"{url}/committee")
        expect(tab.get_by_role("heading", name="Committee")).to_be_visible()
        expect(tab.get_by_role("textbox", name="Your name")).to_be_visible()  # app.py ran: sidebar with the picker
        expect(tab.get_by_role("link", name="Overview")).to_be_visible()
        context.close()
