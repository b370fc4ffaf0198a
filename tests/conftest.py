"""Shared fixtures: a temp project on the fake model, a clean fake queue, the real local model."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from lbi.config import Config  # noqa: E402
from lbi.models.fake import FakeModel  # noqa: E402
from lbi.project import Project, init_project  # noqa: E402
from tests.tiers import TIERS, TierClock, mark_items, require, starts  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
pytest_plugins = ["tests.envs.fixtures", "pytester"]
LOCAL_TEST_PORT = int(os.environ.get("LBI_TEST_MODEL_PORT", "8797"))  # one per concurrent test session


_CLOCK = TierClock()


def pytest_configure(config: pytest.Config) -> None:
    for tier, what in TIERS.items():
        config.addinivalue_line("markers", f"{tier}: {what} (a test tier: make test-fast deselects it)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    mark_items(items)
    _CLOCK.collected(items)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    require(item)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _CLOCK.add(report)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _CLOCK.seconds:
        terminalreporter.write_sep("=", "time per test tier (setup + call + teardown)")
        for line in _CLOCK.lines():
            terminalreporter.write_line(line)


@pytest.fixture(autouse=True)
def _clean_fake_model() -> Iterator[None]:
    FakeModel.clear()
    yield
    FakeModel.clear()


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """A fresh project whose every role uses the deterministic fake model."""
    config = Config(project="test")
    config.models.default = "fake"
    return init_project(tmp_path / "proj", config)


@pytest.fixture
def sql_project(project: Project, tmp_path: Path) -> Project:
    """`project` acting in a small real SQLite shop database (items: pen, ink) — no browser needed."""
    import sqlite3

    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL)")
        conn.executemany("INSERT INTO items (name, price) VALUES (?, ?)", [("pen", 1.5), ("ink", 4.0)])
    project.config.env.name = "sql"
    project.config.env.options = {"db": str(db)}
    project.config.synth.max_steps = 4
    return project


@pytest.fixture(scope="session")
@starts("local_model")
def local_model_config():
    """The real embedded model on a test port; started once per session and stopped at the end."""
    from lbi.models import local_llm

    config = Config()
    config.local_model.port = LOCAL_TEST_PORT
    local_llm.ensure_running(config.local_model)
    yield config
    local_llm.stop(config.local_model)


@pytest.fixture(scope="session")
@starts("training")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama with SmolLM2's tokenizer, as a Hugging Face model directory (see tests/tiny_model.py)."""
    from tests.tiny_model import make_tiny_model

    cache = tmp_path_factory.mktemp("tokenizer")
    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "model", cache)
