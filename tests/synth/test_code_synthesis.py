"""Synthesis on code, end to end on a real repository in the real sandbox with the fake model: the repository's
own docs, generated tasks, explore and llm rollouts of bash commands, backward construction, the committee,
export; then a held-out bug-fix task evaluated and exported as a SWE-bench prediction line."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from lbi.docs.ingest import import_tasks
from lbi.envs.tasks import save_tasks
from lbi.errors import NotFoundError
from lbi.models.fake import FakeModel
from lbi.project import Project
from lbi.synth.pipeline import SynthSizes, synthesize
from lbi.use.evaluate import evaluate
from lbi.use.export import export
from lbi.use.swebench import write_predictions
from tests.envs.repo.test_repo import bug_task, make_repo

pytestmark = pytest.mark.sandbox  # starts it in the tests' own bodies (tests/tiers.py)


@contextmanager
def _quiet(stage: str) -> Iterator[Callable[[int, int], None]]:
    yield lambda done, total: None


@pytest.fixture()
def code_project(project: Project, tmp_path: Path) -> Project:
    project.config.env.name = "repo"
    project.config.env.options = {
        "repo": str(make_repo(tmp_path / "calc-1.0")),
        "cache_dir": str(tmp_path / "snap"),
        "time_limit_s": 20,
    }
    project.config.env.description = "calc, a small Python library, as a git repository at /testbed"
    project.config.synth.max_steps = 4
    return project


def _label(messages: list[dict[str, Any]], schema: dict[str, Any] | None) -> str:
    """A backward constructor that names the first command of its span (so the grounding rule keeps it)."""
    command = re.search(r"action: bash\((['\"])(.*?)\1\)", messages[-1]["content"])
    words = re.findall(r"[A-Za-z_]{3,}", command.group(2) if command else "the repository")
    return json.dumps({"instruction": f"Run {' '.join(words[:5])} in the repository"})


def _approve(messages: list[dict[str, Any]], schema: dict[str, Any] | None) -> str:
    return json.dumps({"reason": "the span does it", "verdict": True})


def test_synthesis_on_a_repository_end_to_end(code_project: Project, tmp_path: Path) -> None:
    FakeModel.register_responder("backward-per-span", _label)
    for judge in ("accomplishment", "instruction", "efficiency"):
        FakeModel.register_responder(f"judge-{judge}", _approve)
    report = synthesize(
        code_project,
        SynthSizes(chunks=3, per_chunk=2, tasks=2, explore=2, max_steps=4, mode="per-span", max_span=3),
        _quiet,
        name="code",
    )
    assert "docs" in report.seconds  # the repository's README, docs/ and docstrings, loaded without being asked
    sources = {r[0] for r in code_project.store.query("SELECT source FROM documents")}
    assert {Path(s).name for s in sources} == {"README.md", "usage.rst", "calc.md"}
    steps = code_project.store.query(
        "SELECT s.action, s.state_signature, s.observation, t.policy FROM steps s "
        "JOIN trajectories t ON t.id = s.trajectory_id"
    )
    explored = [s for s in steps if s["policy"] == "explore"]
    assert len(explored) == 8 and all(s["action"].startswith("bash(") for s in explored)
    assert all(s["state_signature"].startswith("repo:") for s in steps)
    assert any("/testbed$ " in s["observation"] for s in explored[1:])  # a command's output, as the agent saw it
    funnel = report.funnel
    assert funnel["trajectories"] == 4 and funnel["examples"] > 0 and funnel["kept"] > 0

    records = [json.loads(line) for line in export(code_project, tmp_path / "code.jsonl", per="step").path.open()]
    assert records and all(r["env"] == "repo" for r in records)
    system = records[0]["messages"][0]["content"]
    assert "- bash(command): " in system and "- submit(): " in system
    kept = code_project.store.query("SELECT instruction FROM examples")
    assert any("grep" in r[0] or "sed" in r[0] or "pytest" in r[0] for r in kept)


def test_a_bug_fix_is_evaluated_and_exported_as_a_swe_bench_prediction(code_project: Project, tmp_path: Path) -> None:
    task = bug_task()
    save_tasks([task], tmp_path / "tasks.jsonl")
    import_tasks(code_project, tmp_path / "tasks.jsonl")
    replies = iter(
        [
            ("Find the mean.", "bash('grep -n \"def mean\" -A 3 calc/__init__.py')"),
            ("Divide by the length.", "bash(\"sed -i 's|(len(xs) + 1)|len(xs)|' calc/__init__.py\")"),
            ("Done.", "submit()"),
        ]
    )

    def act(messages: list[dict[str, Any]], schema: dict[str, Any] | None) -> str:
        reasoning, action = next(replies)
        return json.dumps({"reasoning": reasoning, "action": action})

    FakeModel.register_responder("act", act)
    report = evaluate(code_project, ["baseline"], run="fix")
    assert (report.summaries["baseline"].n, report.summaries["baseline"].successes) == (1, 1)
    detail = code_project.store.query("SELECT detail FROM evaluations")[0][0]
    assert detail.startswith("fail_to_pass 1/1 passed; pass_to_pass 1/1 passed")

    written = write_predictions(code_project, "fix", tmp_path / "preds.jsonl")
    line = json.loads(written.path.read_text())
    assert set(line) == {"instance_id", "model_name_or_path", "model_patch"}
    assert line["instance_id"] == "calc-1" and line["model_name_or_path"] == "fake@baseline"
    assert "-    return sum(xs) / (len(xs) + 1)\n+    return sum(xs) / len(xs)" in line["model_patch"]
    with pytest.raises(NotFoundError, match="no evaluations in run 'nope'"):
        write_predictions(code_project, "nope", tmp_path / "none.jsonl")
