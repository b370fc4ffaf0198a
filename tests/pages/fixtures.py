"""A project filled by the real pipeline (fake model, SQLite env) for the page tests and the e2e test.

Built once per session into a template directory, then copied for each test that writes to it.
One extra web-style trajectory carries real PNG screenshots (and one whose file is gone), because
the SQL environment takes none; its examples still come from the real backward construction.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from lbi.config import Config
from lbi.docs.ingest import add_source, add_upload
from lbi.project import Project, init_project, open_project
from lbi.synth.backward import construct
from lbi.synth.generate import generate_tasks
from lbi.synth.judge import judge_examples
from lbi.synth.rollout import rollout
from tests.conftest import ROOT

DOCS = ROOT / "tests" / "fixtures" / "docs"
EVIL = "Evil page\n\n<script>alert(1)</script> and <img src=x onerror=alert(2)> and [a link](http://evil.test)\n"
WEB_KEY = "web-demo/walk-0"


def _shop_db(path: Path) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL)")
        conn.executemany("INSERT INTO items (name, price) VALUES (?, ?)",
                         [("pen", 1.5), ("ink", 4.0), ("paper", 2.25)])
    return path


def _png(path: Path, label: str, colour: tuple[int, int, int]) -> str:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (640, 400), (250, 250, 250))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 0, 640, 48], fill=colour)
    draw.text((16, 16), label, fill=(255, 255, 255))
    draw.rectangle([40, 120, 260, 160], outline=(230, 0, 0), width=3)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return str(path)


def _web_trajectory(project: Project, run_id: int) -> int:
    """A 3-step browser-style trajectory: two screenshots on disk, the third one missing."""
    shots = project.screenshots_dir / "web-demo"
    tid, _ = project.store.begin_trajectory(WEB_KEY, run_id=run_id, policy="explore", env="web",
                                            model="fake")
    actions = ["click('12')", "fill('31', 'printer ink')", "click('40')"]
    for i, action in enumerate(actions):
        shot = _png(shots / f"{i}.png", f"step {i}: {action}", (30 + 60 * i, 90, 160)) if i < 2 \
            else str(shots / "gone.png")
        project.store.add_step(tid, i, observation=f"[12] link \"Shop\"\n[31] textbox \"Search\"\npage {i}",
                               screenshot=shot, action=action, reasoning=f"explore element {i}",
                               url=f"http://127.0.0.1:9/shop/{i}", state_signature=f"shop-{i}",
                               error="element 40 is not visible" if i == 2 else None, latency_ms=120.0 + i)
    project.store.finish_trajectory(tid, status="done", final={"observation": "done page",
                                                                 "url": "http://127.0.0.1:9/shop/3"})
    return tid


def build_project(directory: Path) -> Project:
    """Docs → tasks → rollouts (explore + llm) → backward (both modes) → committee, on the fake model."""
    directory.mkdir(parents=True, exist_ok=True)
    config = Config(project="pages test")
    config.models.default = "fake"
    config.env.name = "sql"
    config.env.options = {"db": str(_shop_db(directory / "shop.db"))}
    config.env.description = "A small shop database (SQLite)."
    config.synth.max_steps = 4
    config.synth.concurrency = 1
    project = init_project(directory / "proj", config)
    add_source(project, DOCS)
    add_upload(project, "evil.txt", EVIL.encode())
    chunk_ids = [r[0] for r in project.store.query("SELECT id FROM chunks ORDER BY id LIMIT 3")]
    generate_tasks(project, chunk_ids, per_chunk=2)
    rollout(project, "walk", policy="explore", episodes=2, concurrency=1)
    rollout(project, "agent", policy="llm", limit=1, concurrency=1)
    web_run = project.store.start_run("web-demo", "rollout", {"policy": "explore"})
    project.store.update_run(web_run, done=1, total=1, status="done", message="1 done")
    _web_trajectory(project, web_run)
    construct(project, mode="per-span")
    first = project.store.query("SELECT MIN(id) FROM trajectories")[0][0]
    construct(project, [first], mode="batched")
    judge_examples(project)
    project.store.close()
    return project


def copy_project(template: Path, target: Path) -> Project:
    shutil.copytree(template, target)
    project = open_project(target / "proj")
    # the SQL env's database moved with the copy
    project.config.env.options = {"db": str(target / "shop.db")}
    from lbi.config import save_config

    save_config(project.dir, project.config)
    return open_project(project.dir)


@pytest.fixture(scope="session")
def filled_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("filled")
    build_project(root)
    return root


@pytest.fixture
def filled(filled_template: Path, tmp_path: Path) -> Project:
    """A fresh copy of the filled project (safe to write to)."""
    return copy_project(filled_template, tmp_path / "copy")
