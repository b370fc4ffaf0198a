"""A project filled by the real pipeline (fake model, SQLite env) for the page tests and the e2e test.

Built once per session into a template directory, then copied for each test that writes to it.
One extra web-style trajectory carries real PNG screenshots (and one whose file is gone), because
the SQL environment takes none; its examples still come from the real backward construction.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lbi.config import Config
from lbi.docs.ingest import add_source, add_upload
from lbi.envs.tasks import Task, task_rows
from lbi.project import Project, init_project, open_project
from lbi.synth.backward import construct
from lbi.synth.generate import generate_tasks
from lbi.synth.judge import judge_examples
from lbi.synth.leakage import refresh
from lbi.synth.rollout import rollout
from tests.conftest import ROOT

DOCS = ROOT / "tests" / "fixtures" / "docs"
EVIL = "Evil page\n\n<script>alert(1)</script> and <img src=x onerror=alert(2)> and [a link](http://evil.test)\n"
WEB_KEY = "web-demo/walk-0"


def _shop_db(path: Path) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL)")
        conn.executemany("INSERT INTO items (name, price) VALUES (?, ?)", [("pen", 1.5), ("ink", 4.0), ("paper", 2.25)])
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
    tid, _ = project.store.begin_trajectory(WEB_KEY, run_id=run_id, policy="explore", env="web", model="fake")
    actions = ["click('12')", "fill('31', 'printer ink')", "click('40')"]
    for i, action in enumerate(actions):
        shot = (
            _png(shots / f"{i}.png", f"step {i}: {action}", (30 + 60 * i, 90, 160))
            if i < 2
            else str(shots / "gone.png")
        )
        project.store.add_step(
            tid,
            i,
            observation=f'[12] link "Shop"\n[31] textbox "Search"\npage {i}',
            screenshot=shot,
            action=action,
            reasoning=f"explore element {i}",
            url=f"http://127.0.0.1:9/shop/{i}",
            state_signature=f"shop-{i}",
            error="element 40 is not visible" if i == 2 else None,
            latency_ms=120.0 + i,
        )
    project.store.finish_trajectory(
        tid, status="done", final={"observation": "done page", "url": "http://127.0.0.1:9/shop/3"}
    )
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


# -- evaluations and a training run, for the Evaluation page -------------------------------------------------
SHOP_TASKS = [  # (id, instruction, query, answer) on _shop_db: pen 1.5, ink 4.0, paper 2.25
    ("shop-count", "How many items does the shop sell?", "SELECT COUNT(*) FROM items", "3"),
    ("shop-cheapest", "Which item is the cheapest?", "SELECT name FROM items ORDER BY price LIMIT 1", "pen"),
    ("shop-priciest", "Which item costs the most?", "SELECT name FROM items ORDER BY price DESC LIMIT 1", "ink"),
    ("shop-total", "What do all items cost together?", "SELECT SUM(price) FROM items", "7.75"),
    ("shop-over-2", "How many items cost more than 2?", "SELECT COUNT(*) FROM items WHERE price > 2", "2"),
    ("shop-paper", "What is the price of paper?", "SELECT price FROM items WHERE name = 'paper'", "2.25"),
]
ARMS = [  # (run, model, mode, the tasks its agent answers right)
    ("base", "fake", "baseline", {"shop-count"}),
    ("base", "fake", "agentic", {"shop-count", "shop-cheapest"}),
    ("trained", "fake/trained", "baseline", {"shop-count", "shop-cheapest", "shop-priciest", "shop-total"}),
    (
        "trained",
        "fake/trained",
        "agentic",
        {"shop-count", "shop-cheapest", "shop-priciest", "shop-total", "shop-over-2"},
    ),
]


def _agent(solves: set[str]) -> Callable[[list[dict[str, Any]], Any], str]:
    """A scripted agent: it queries the table, then answers — right on the tasks in `solves`."""

    def act(messages: list[dict[str, Any]], schema: Any) -> str:
        prompt = messages[-1]["content"]
        task_id, _, query, answer = next(t for t in SHOP_TASKS if prompt.startswith(f"Task: {t[1]}"))
        if "Previous actions:\n(none yet)" in prompt:
            return json.dumps({"reasoning": "Look it up in the items table.", "action": f'execute_sql("{query}")'})
        return json.dumps(
            {
                "reasoning": "The result answers the question.",
                "action": f"stop('{answer if task_id in solves else 'not sure'}')",
            }
        )

    return act


def add_evaluations(project: Project) -> None:
    """What a base and a trained model leave behind: held-out shop questions, eval runs `base` (model fake) and
    `trained` (model fake/trained) in baseline and agentic mode — the trained one answering more of them — and
    the training run between them with its loss curve (through the Store's writers, as `lbi train` records it)."""
    from lbi.models.fake import FakeModel
    from lbi.use.evaluate import evaluate

    store = project.store
    store.add_tasks(
        [
            {
                "id": i,
                "instruction": text,
                "env": "sql",
                "split": "heldout",
                "spec_json": {"check": {"kind": "answer", "params": {"expected": answer, "match": "contains"}}},
            }
            for i, text, _, answer in SHOP_TASKS
        ]
    )
    trained_on = [r[0] for r in store.query("SELECT id FROM examples WHERE mode = 'per-span' ORDER BY id LIMIT 12")]
    for example in trained_on:  # a researcher kept these, so agentic retrieval has examples to show
        store.add_override(example, "keep", who="researcher", note="looks right")
    agent, cache = project.config.models.agent, project.config.llm.cache
    project.config.llm.cache = False  # each arm's agent is scripted apart; the same prompt must not replay a reply
    for run, model, mode, solves in ARMS:
        FakeModel.register_responder("act", _agent(solves))
        project.config.models.agent = model
        evaluate(project, [mode], run=run, max_steps=3)
    project.config.models.agent, project.config.llm.cache = agent, cache
    FakeModel.clear()
    run_id = store.start_run("sft-1", "train", {"epochs": 2})
    store.set_train_run(
        run_id,
        base_model="fake",
        model="fake/trained",
        examples_json=trained_on,
        examples_hash="3f2a9c",
        records=len(trained_on),
        tokens=48_000,
        config_json={"lora_r": 8, "epochs": 2, "learning_rate": 2e-4},
        wall_s=912.4,
        tokens_per_s=52.6,
        peak_rss_mb=1430.0,
    )
    store.add_train_log(
        run_id,
        [
            {
                "step": s,
                "epoch": s / 20,
                "loss": round(2.6 * 0.93**s + 0.4, 3),
                "learning_rate": 2e-4 * (1 - s / 40),
                "tokens": 1200 * s,
                "seconds": 22.8 * s,
            }
            for s in range(1, 41)
        ],
    )
    store.update_run(run_id, status="done", done=40, total=40, message="40 steps, loss 0.43")


@pytest.fixture(scope="session")
def evaluated_template(filled_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The filled project with two eval runs and a training run (`add_evaluations`)."""
    root = tmp_path_factory.mktemp("evaluated")
    shutil.rmtree(root)
    add_evaluations(copy_project(filled_template, root))
    return root


@pytest.fixture
def evaluated(evaluated_template: Path, tmp_path: Path) -> Project:
    """A fresh copy of the evaluated project (safe to write to)."""
    return copy_project(evaluated_template, tmp_path / "copy")


HELD_OUT_LEAK = "shop-held-1"


def flag_a_leak(project: Project) -> tuple[int, set[str]]:
    """A held-out task (`HELD_OUT_LEAK`) that asks what the project's first example asks, then the leakage check:
    that example's id and the ids the check flags (it and any example asking the same: the fake model repeats)."""
    store = project.store
    example, instruction = store.query("SELECT id, instruction FROM examples ORDER BY id LIMIT 1")[0]
    heldout = Task(id=HELD_OUT_LEAK, env="sql", instruction=instruction, split="heldout", check={"kind": "none"})
    store.add_tasks(task_rows([heldout]))
    refresh(project, ("example",))
    return example, {str(r[0]) for r in store.query("SELECT id FROM examples WHERE instruction = ?", (instruction,))}
