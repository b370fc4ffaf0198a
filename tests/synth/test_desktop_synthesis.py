"""Synthesis on the desktop, end to end, in the real LibreOffice Calc with the deterministic test model: Calc's own
offline help as the docs, generated tasks, explore (coverage-biased over the tree's actionable elements) and llm
rollouts with screenshots, backward construction, the committee, the retrieval index and agentic retrieval at a
desktop state, export; then the workbench replays a desktop trajectory with its screenshots."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from lbi.agent.loop import History
from lbi.envs.tasks import Task
from lbi.models.fake import FakeModel
from lbi.project import Project
from lbi.synth.pipeline import SynthSizes, synthesize
from lbi.use.export import export
from lbi.use.index import Index
from lbi.use.retrieval import Retriever
from tests.pages.test_pages import _page

pytestmark = pytest.mark.desktop  # starts it in the tests' own bodies (tests/tiers.py)


@contextmanager
def _quiet(stage: str) -> Iterator[Callable[[int, int], None]]:
    yield lambda done, total: None


def _label(messages: list[dict[str, Any]], schema: dict[str, Any] | None) -> str:
    """A backward constructor that names what the span's first step acted on (so the grounding rule keeps it)."""
    prompt = messages[-1]["content"]
    target = re.search(r"action: \w+\((['\"])(.*?)\1\)(?: on (.*))?", prompt)
    text = (target.group(3) or target.group(2)) if target else "the sheet"
    words = re.findall(r"[A-Za-z0-9]{2,}", text)
    return json.dumps({"instruction": f"Use {' '.join(words[:5]) or 'the sheet'} in the spreadsheet"})


def _approve(messages: list[dict[str, Any]], schema: dict[str, Any] | None) -> str:
    return json.dumps({"reason": "the span does it", "verdict": True})


def test_synthesis_on_the_desktop_end_to_end(project: Project, tmp_path: Path) -> None:
    project.config.env.name = "desktop"
    project.config.env.options = {"document": "grades.xlsx"}
    project.config.env.description = "LibreOffice Calc with a spreadsheet of students' grades"
    actions = iter(["click('B8')", "type('=AVERAGE(B2:B7)\\n')", "hotkey('ctrl+s')"] * 4)
    FakeModel.register_responder("act", lambda m, s: json.dumps({"reasoning": "next", "action": next(actions)}))
    FakeModel.register_responder("backward-per-span", _label)
    for judge in ("accomplishment", "instruction", "efficiency"):
        FakeModel.register_responder(f"judge-{judge}", _approve)
    report = synthesize(
        project,
        SynthSizes(chunks=2, per_chunk=1, tasks=1, explore=1, max_steps=3, mode="per-span", max_span=3),
        _quiet,
        name="desk",
    )
    sources = [r[0] for r in project.store.query("SELECT source FROM documents")]
    assert len(sources) > 50 and all("/libreoffice/help/en-US/text/scalc/guide/" in s for s in sources)

    steps = project.store.query(
        "SELECT s.action, s.state_signature, s.observation, s.screenshot, t.policy "
        "FROM steps s JOIN trajectories t ON t.id = s.trajectory_id ORDER BY s.id"
    )
    explored = [s for s in steps if s["policy"] == "explore"]
    assert len(explored) == 3 and all(re.match(r"(click|type|hotkey)\(", s["action"]) for s in explored)
    llm = [s for s in steps if s["policy"] == "llm"]
    assert [s["action"] for s in llm] == ["click('B8')", "type('=AVERAGE(B2:B7)\\n')", "hotkey('ctrl+s')"]
    assert "[B8] cell" in llm[-1]["observation"]  # the formula typed in the step before
    assert all(s["state_signature"].startswith("desktop:calc") for s in steps)
    assert all(s["screenshot"] and (Path(project.dir) / s["screenshot"]).exists() for s in steps)
    funnel = report.funnel
    why = project.store.query(
        "SELECT e.instruction, v.reason FROM verdicts v JOIN examples e ON e.id = v.example_id "
        "WHERE v.judge = 'grounding'"
    )
    assert funnel["trajectories"] == 2 and funnel["examples"] > 0 and funnel["kept"] > 0, [tuple(r) for r in why]

    index = Index(project)
    index.sync()
    with project.make_env() as env:
        obs = env.reset(
            Task(
                id="q",
                env="desktop",
                instruction="average",
                start={"document": "grades.xlsx"},
                check={"kind": "answer", "params": {"expected": "x"}},
            )
        )
        result = Retriever(project, "agentic").retrieve("Average the Math scores", obs, History())
    assert result.observation_hits and result.rendered
    assert any(h.meta.get("state_signature") == obs.state_signature for h in result.observation_hits)

    records = [json.loads(line) for line in export(project, tmp_path / "desk.jsonl", per="step").path.open()]
    assert records and all(r["env"] == "desktop" and r["images"] for r in records)
    assert "- hotkey(keys): " in records[0]["messages"][0]["content"]

    tid = project.store.query("SELECT id FROM trajectories WHERE policy = 'llm'")[0][0]
    at = _page(project.dir, "rollouts", traj_pick=tid)
    assert at.code[0].value == "click('B8')" and len(at.image) == 1
    next(b for b in at.button if b.label == "Next ▶").click().run()
    assert at.code[0].value == "type('=AVERAGE(B2:B7)\\n')" and len(at.image) == 1
