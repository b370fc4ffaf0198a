"""`lbi eval` on Ray: the same episodes, checks and retrieved examples as the local executor, the retrieval
answered on the driver's node, the evaluation rows written by the driver."""

from __future__ import annotations

import json
from pathlib import Path

from lbi.cluster.session import use_ray
from lbi.docs.ingest import add_source
from lbi.models.fake import FakeModel
from lbi.store import evals
from lbi.synth.backward import construct
from lbi.synth.judge import judge_examples
from lbi.synth.rollout import rollout
from lbi.use.evaluate import evaluate
from tests.cluster.conftest import Cluster
from tests.cluster.helpers import actions, sql_project
from tests.conftest import ROOT

HELDOUT = [
    {
        "id": "h-count",
        "instruction": "How many items are in the shop?",
        "check": {"kind": "answer", "params": {"expected": "2", "match": "number"}},
    },
    {
        "id": "h-names",
        "instruction": "List the names of all items.",
        "check": {"kind": "sql_result", "params": {"query": "SELECT name FROM items"}},
    },
    {
        "id": "h-broken",
        "instruction": "A task whose check cannot run.",
        "check": {"kind": "no-such-check", "params": {}},
    },
]
MODES = ["baseline", "docs-rag", "examples-rag", "agentic"]


def test_eval_on_ray_matches_the_local_executor(ray_cluster: Cluster, tmp_path: Path) -> None:
    project = sql_project(tmp_path, "")
    project.config.synth.max_steps = 3
    add_source(project, ROOT / "tests" / "fixtures" / "docs" / "guide.md")
    project.store.add_tasks(
        {
            "id": t["id"],
            "instruction": t["instruction"],
            "env": "sql",
            "split": "heldout",
            "spec_json": {**t, "env": "sql", "split": "heldout"},
        }
        for t in HELDOUT
    )
    rollout(project, "walk", policy="explore", episodes=3, concurrency=1)
    construct(project, mode="per-span")
    project.config.models.judges = [j for j in project.config.models.judges if j.focus != "grounding"]
    for name in ("accomplishment", "instruction", "efficiency"):  # kept examples, so retrieval finds some
        FakeModel.register_responder(f"judge-{name}", lambda m, s: json.dumps({"reason": "ok", "verdict": True}))
    judge_examples(project)

    here = evaluate(project, MODES, run="here")  # the fake agent's replies follow from its prompt: equal
    assert here.retrieved["agentic"][0]["used"] > 0
    use_ray(project.config, ray_cluster.address)
    project.config.ray.workers = 2
    ticks: list[tuple[int, int]] = []
    there = evaluate(project, MODES, run="there", progress=lambda done, total: ticks.append((done, total)))

    assert {m: (s.n, s.successes, s.errors) for m, s in there.summaries.items()} == {
        m: (s.n, s.successes, s.errors) for m, s in here.summaries.items()
    }
    assert ticks[-1] == (12, 12)
    steps = actions(project)
    for mode in MODES:
        for task in HELDOUT:
            ours, theirs = steps[f"here/{mode}/{task['id']}"], steps[f"there/{mode}/{task['id']}"]
            if mode == "agentic":
                # its searches include steps of identical text, whose order is decided by the last bits of the
                # embeddings, which differ between two processes (the retrieval actor's torch runs on other
                # threads): the same retrieval, not the same order of tied hits, so not the same fake replies
                assert len(theirs) == len(ours), task["id"]
            else:
                assert theirs == ours, (mode, task["id"])
    rows = {
        (r["run"], r["mode"], r["task_id"]): (r["success"], r["error"], r["n_steps"])
        for r in evals.evaluations(project.store)
    }
    assert len(rows) == 24 and all(rows[("there", *key[1:])] == rows[key] for key in rows if key[0] == "here")
    calls = "SELECT purpose, COUNT(*), SUM(prompt_tokens) FROM llm_calls WHERE run_id = ? GROUP BY 1 ORDER BY 1"
    run_ids = {r["name"]: r["id"] for r in project.store.query("SELECT id, name FROM runs")}
    calls_here, calls_there = (
        {r[0]: (r[1], r[2]) for r in project.store.query(calls, (run_ids[run],))} for run in ("here", "there")
    )
    assert calls_here.keys() == calls_there.keys() == {"act", "retrieval-query"}
    for purpose, (n, tokens) in calls_here.items():  # the same calls, prompts as long (examples included) to 3%
        assert calls_there[purpose][0] == n and abs(calls_there[purpose][1] / tokens - 1) < 0.03
    # resuming the finished run on Ray starts no episode
    again = evaluate(project, MODES, run="there")
    assert again.summaries["agentic"].n == 3 and project.store.counts()["evaluations"] == 24
