"""1,000 fuzzed malformed model replies through a whole synthesis run (fake model, real SQLite env, real store).

Every reply the model gives goes through one responder that serves, in order, a stream of groups:
one, two or three malformed replies, then (unless three) a valid one. So with `llm.parse_retries = 2`
an item whose group has three bad replies fails for good, and the others recover on a retry.
Checked: every malformed reply is consumed and logged (`llm_calls`), every item that failed for good is
in `failures` with its last raw reply, nothing crashes, every stage finishes, and the data exports.
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from lbi.docs.ingest import add_source
from lbi.models.fake import FakeModel
from lbi.models.schema import parse_json_reply
from lbi.project import Project
from lbi.prompts.replies import AgentReply, FillText, SearchQuery, SpanInstruction, TaskProposals, Verdict, batch_schema
from lbi.store.db import valid_utf8
from lbi.synth.backward import construct
from lbi.synth.generate import generate_tasks
from lbi.synth.judge import judge_examples
from lbi.synth.rollout import rollout
from lbi.use.export import export
from tests.conftest import ROOT

N_BAD = 1000
SCHEMAS: list[type[BaseModel]] = [
    TaskProposals,
    SpanInstruction,
    batch_schema([(0, 0), (0, 1), (0, 2)]),
    Verdict,
    AgentReply,
    FillText,
    SearchQuery,
]
PURPOSES = [
    "generate_tasks",
    "act",
    "explore-fill",
    "backward-per-span",
    "backward-batched",
    "judge-accomplishment",
    "judge-instruction",
    "judge-efficiency",
]
GOOD = object()


def _valid(schema: dict[str, Any] | None, n: int) -> str:
    """A reply that validates against the schema the caller asked for (any of the stages' schemas)."""

    def value(name: str, spec: dict[str, Any]) -> Any:
        kind = spec.get("type")
        if kind == "boolean":
            return n % 3 != 0
        if kind == "integer":
            return 0
        if kind == "array":
            return [f"List the items that cost more than {n + k} dollars" for k in range(2)]
        if name == "action":
            return 'execute_sql("SELECT name, price FROM items ORDER BY price")'
        return f"Show the price of every item in the shop ({name} {n})"

    props = (schema or {}).get("properties", {})
    assert props, f"unexpected schema {schema}"
    return json.dumps({name: value(name, spec) for name, spec in props.items()})


def _rejected_by_every_schema(text: str) -> bool:
    for schema in SCHEMAS:
        try:
            parse_json_reply(text, schema)
        except ValidationError:
            continue
        return False
    return True


def malformed_replies(rng: random.Random) -> Iterator[tuple[str, str]]:
    """(category, reply) forever: truncated JSON, wrong schema, empty, huge, non-UTF-8, and more."""
    valid_samples = [
        '{"instructions": ["Show every item with its price", "Count the items"]}',
        '{"instruction": "Show every item with its price"}',
        '{"spans": [{"end": 0, "instruction": "Open the items"}, {"end": 1, "instruction": "Sort them"}]}',
        '{"reason": "fine", "verdict": true}',
        '{"reasoning": "look", "action": "execute_sql(\\"SELECT 1\\")"}',
    ]
    words = "ticket item price query table select where order group count".split()
    makers = {
        "empty": lambda: rng.choice(["", " ", "\n\n", "\t", "null", "{}", "[]", '""']),
        "truncated": lambda: (lambda s: s[: rng.randrange(1, len(s) - 1)])(rng.choice(valid_samples)),
        "wrong-schema": lambda: json.dumps(
            rng.choice(
                [
                    {"answer": "42"},
                    {"instructions": "not a list"},
                    {"instructions": []},
                    {"spans": [{"start": 0, "text": "x"}]},
                    {"spans": "all"},
                    {"verdict": "maybe", "reason": 3},
                    {"reasoning": 1, "action": None},
                    {"instruction": 5},
                    {"instruction": None},
                    {"instructions": [None]},
                    {"spans": [{"end": "last", "instruction": 1}]},
                    {"text": ["a"]},
                ]
            )
        ),
        "not-json": lambda: rng.choice(
            [
                "Sure! The instruction is to list the items.",
                "I cannot help with that.",
                "{'instruction': 'single quotes'}",
                '{"instruction": "trailing",}',
                '{"verdict": NaN}',
                '```json\n{"instruction": \n```',
                "<html><body>502 Bad Gateway</body></html>",
                "\x1b[31mERROR\x1b[0m",
                "{" * 3 + "}" * 2,
                "]{",
            ]
        ),
        "huge": lambda: (
            (" ".join(rng.sample(words, 8)) + " ") * rng.randrange(2_000, 40_000) + rng.choice(["", '{"instruction": '])
        )[-2_000_000:],
        "deep": lambda: rng.choice(["[" * 50_000, '{"a":' * 20_000, "[" * 5000 + "]" * 5000]),
        "control": lambda: rng.choice(
            [
                "\x00" * rng.randrange(1, 100),
                '{"instruction": "a\x00b"}',
                '{"instruction": "tab\there"}',
                "\x07\x08\x0b\x0c",
                "\ufeff",
            ]
        ),
        "non-utf8": lambda: rng.choice(
            [
                bytes(rng.randrange(128, 256) for _ in range(rng.randrange(1, 200))).decode("utf-8", "surrogateescape"),
                bytes(rng.randrange(0, 256) for _ in range(rng.randrange(1, 200))).decode("latin-1"),
                "\ud800",
                '{"instruction": "cut emoji \ud83d"}',
                '{"instruction": "\\ud83d half"}',
                '{"reason": "\udcff", "verdict": true, ',
                "caf\xe9".encode("latin-1").decode("utf-8", "surrogateescape"),
            ]
        ),
    }
    while True:
        category = rng.choice(list(makers))
        text = makers[category]()
        if _rejected_by_every_schema(text):
            yield category, text


class Fuzzer:
    """The responder: serves the planned stream, then valid replies once it is used up."""

    def __init__(self, seed: int = 7) -> None:
        rng = random.Random(seed)
        bad = malformed_replies(rng)
        self.stream: list[Any] = []
        self.failing_raws: list[str] = []  # the last bad reply of each group that fails for good
        self.categories: Counter[str] = Counter()
        left = N_BAD
        while left:
            k = min(left, rng.choice([1, 1, 2, 3]))
            group = [next(bad) for _ in range(k)]
            self.categories.update(c for c, _ in group)
            self.stream += [text for _, text in group]
            left -= k
            if k == 3:
                self.failing_raws.append(group[-1][1])
            else:
                self.stream.append(GOOD)
        self.served = 0
        self.bad_served = 0

    def __call__(self, messages: list[dict[str, Any]], schema: dict[str, Any] | None) -> str:
        self.served += 1
        if self.stream:
            item = self.stream.pop(0)
            if item is not GOOD:
                self.bad_served += 1
                return item
        return _valid(schema, self.served)


@pytest.fixture
def sql_project(project: Project, tmp_path: Path) -> Project:
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL)")
        conn.executemany(
            "INSERT INTO items (name, price) VALUES (?, ?)", [("pen", 1.5), ("ink", 4.0), ("pad", 2.25), ("clip", 0.1)]
        )
    project.config.env.name = "sql"
    project.config.env.options = {"db": str(db)}
    project.config.llm.parse_retries = 2
    project.config.llm.cache = False  # every call reaches the model (and the responder)
    return project


def test_a_thousand_malformed_replies_are_handled_recorded_and_the_run_completes(
    sql_project: Project, tmp_path: Path
) -> None:
    fuzzer = Fuzzer()
    assert len([s for s in fuzzer.stream if s is not GOOD]) == N_BAD
    assert set(fuzzer.categories) == {
        "empty",
        "truncated",
        "wrong-schema",
        "not-json",
        "huge",
        "deep",
        "control",
        "non-utf8",
    }
    for purpose in PURPOSES:
        FakeModel.register_responder(purpose, fuzzer)
    project = sql_project
    store = project.store

    add_source(project, ROOT / "tests" / "fixtures" / "docs")
    generate_tasks(project, per_chunk=2)
    # the bad replies are consumed by whichever stage is running; go round until all are used up
    for round_ in range(12):
        rollout(project, f"llm-{round_}", policy="llm", limit=6, concurrency=1, max_steps=6)
        rollout(project, f"walk-{round_}", policy="explore", episodes=2, concurrency=1, max_steps=8)
        construct(project, mode="per-span", max_span=6)
        construct(project, mode="batched", max_span=6)
        judge_examples(project)
        if fuzzer.bad_served == N_BAD and not fuzzer.stream:
            break
    assert fuzzer.bad_served == N_BAD, f"only {fuzzer.bad_served} malformed replies were asked for"

    # every reply is logged as a call; none came from the cache
    calls = store.query("SELECT COUNT(*), SUM(cache_hit) FROM llm_calls")[0]
    assert calls[0] == fuzzer.served and not calls[1]
    # every item that got three malformed replies is a recorded failure holding the last raw reply
    failures = store.query("SELECT stage, raw, error FROM failures WHERE error LIKE '%gave no reply matching%'")
    assert len(failures) == len(fuzzer.failing_raws) > 0
    assert Counter(f["raw"] for f in failures) == Counter(valid_utf8(r) for r in fuzzer.failing_raws)
    assert {f["stage"] for f in failures} >= {"act", "backward", "judge"}
    # nothing left half-done: every run finished, every trajectory ended, every example was judged
    assert {r[0] for r in store.query("SELECT status FROM runs")} == {"done"}
    assert not store.query("SELECT 1 FROM trajectories WHERE status = 'running'")
    unjudged = store.query(
        "SELECT COUNT(*) FROM examples e WHERE (SELECT COUNT(*) FROM verdicts v "
        "WHERE v.example_id = e.id) < 3 AND NOT EXISTS (SELECT 1 FROM failures f "
        "WHERE f.stage = 'judge' AND f.item LIKE e.id || ':%')"
    )[0][0]
    assert unjudged == 0
    # re-running the stages on a well-behaved model completes what failed, and the data exports
    report = construct(project, mode="per-span", max_span=6)
    assert report.failed == 0
    judge_examples(project)
    out = export(project, tmp_path / "out" / "data.jsonl")
    lines = out.path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == out.records and all(json.loads(line)["messages"] for line in lines)
