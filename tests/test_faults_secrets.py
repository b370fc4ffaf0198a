"""With API keys in the environment, a whole run — docs, generation, rollouts, backward construction, a
committee judge on a (stub) remote provider that gets the key and echoes it back, indexing, export, and a
background job's log — writes the keys nowhere: not in a store table, the model cache, the index, an
export, or a log.

The worst case is arranged on purpose: the documentation contains the key (a setup guide), every model
reply repeats it, the agent runs SQL that prints it into observations, and the provider's transient
error message quotes it.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from lbi import jobs
from lbi.config import JudgeSpec, save_config
from lbi.docs.ingest import add_source
from lbi.models.fake import FakeModel
from lbi.project import Project
from lbi.synth.pipeline import SynthSizes, synthesize
from lbi.use.export import export
from lbi.use.index import Index
from tests.openai_stub import StubProvider, chat_reply

OPENAI_KEY = "sk-proj-Zq81SECRETopenaiKEYvalue0042xyz"
OTHER_SECRET = "tok_9f8e7d6c5b4aSECRET"  # no provider shape: only its variable name says it is secret


def _noop_progress(_label: str) -> contextlib.AbstractContextManager[Any]:
    return contextlib.nullcontext(lambda done, total: None)


def _echo(messages: list[dict[str, Any]], schema: dict[str, Any] | None) -> str:
    props = (schema or {}).get("properties", {})
    text = f"use {OPENAI_KEY} and {OTHER_SECRET} to list the items"
    reply: dict[str, Any] = {}
    for name, spec in props.items():
        if spec.get("type") == "array":
            reply[name] = [f"{text} ({k})" for k in range(2)]
        elif spec.get("type") == "boolean":
            reply[name] = True
        elif name == "action":
            reply[name] = f"execute_sql(\"SELECT name, '{OPENAI_KEY}', '{OTHER_SECRET}' FROM items\")"
        else:
            reply[name] = text
    return json.dumps(reply)


def test_no_key_is_written_anywhere(project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("ACME_SERVICE_TOKEN", OTHER_SECRET)
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL)")
        conn.executemany("INSERT INTO items (name, price) VALUES (?, ?)", [("pen", 1.5), ("ink", 4.0)])
    docs = tmp_path / "docs"
    docs.mkdir()
    filler = "The items table lists the products of the shop with their prices. " * 30
    (docs / "setup.md").write_text(
        f"# Setup\n\nRun `export OPENAI_API_KEY={OPENAI_KEY}` and set the service "
        f"token to {OTHER_SECRET}.\n\n{filler}\n\n# Items\n\n{filler}\n"
    )
    for purpose in ("generate_tasks", "act", "explore-fill", "backward-per-span", "backward-batched"):
        FakeModel.register_responder(purpose, _echo)
    FakeModel.enqueue("not json, but it mentions " + OPENAI_KEY, "again " + OPENAI_KEY, OTHER_SECRET)

    with StubProvider() as stub:
        verdict = json.dumps({"reason": f"fine; your key is {OPENAI_KEY}", "verdict": True})
        stub.script = [(500, {"error": {"message": f"upstream failed for key {OPENAI_KEY}"}})]
        stub.script += [(200, chat_reply(verdict))] * 300
        cfg = project.config
        cfg.env.name, cfg.env.options = "sql", {"db": str(db)}
        cfg.models.api_base = stub.base_url
        cfg.models.judges = [JudgeSpec(name="remote", model="openai/gpt-4o-mini", focus="overall")]
        cfg.llm.max_retries = 2
        save_config(project.dir, cfg)  # the background job below reads it
        add_source(project, docs)
        report = synthesize(
            project,
            SynthSizes(chunks=2, per_chunk=2, tasks=2, explore=1, max_steps=3, max_span=3),
            _noop_progress,
            name="secret",
        )
        sent = [r["headers"].get("Authorization", "") for r in stub.requests]
    assert report.funnel["kept"] > 0  # the pipeline ran through, with the remote judge keeping examples
    assert set(report.seconds) == {"generate", "rollout", "explore", "backward", "filter"}  # docs added above
    assert all(s > 0 for s in report.seconds.values())
    assert sent and all(h == f"Bearer {OPENAI_KEY}" for h in sent)  # the key was used...

    Index(project).sync()
    export(project, tmp_path / "exports" / "data.jsonl")
    export(project, tmp_path / "exports" / "steps.parquet", fmt="parquet", per="step")
    job = jobs.start(project.dir, ["export", "--out", str(tmp_path / "exports" / "cli.jsonl")], "export")
    deadline = time.monotonic() + 120
    while job.alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not job.alive() and "records" in job.log.read_text(), jobs.tail(job.log)
    project.store.close()

    # ...but never written: every file of the project, the exports and the job's log
    written = [p for p in [*project.dir.rglob("*"), *(tmp_path / "exports").rglob("*")] if p.is_file()]
    assert any(p.suffix == ".log" for p in written) and any("cache" in p.parts for p in written)
    assert any(p.name == "chroma.sqlite3" for p in written)
    for path in written:
        data = path.read_bytes()
        for secret in (OPENAI_KEY, OTHER_SECRET):
            assert secret.encode() not in data, f"{secret[:8]}… leaked into {path}"
            assert secret.encode("utf-16-le") not in data, f"{secret[:8]}… leaked into {path}"
    # and the places it would have been show the marker instead
    store = project.store
    assert store.query("SELECT COUNT(*) FROM documents WHERE text LIKE '%[REDACTED]%'")[0][0] == 1
    assert store.query("SELECT COUNT(*) FROM verdicts WHERE reason LIKE '%[REDACTED]%'")[0][0] > 0
    assert store.query("SELECT COUNT(*) FROM steps WHERE observation LIKE '%[REDACTED]%'")[0][0] > 0
    assert store.query("SELECT COUNT(*) FROM failures WHERE raw LIKE '%[REDACTED]%'")[0][0] == 1
    assert store.query("SELECT COUNT(*) FROM examples WHERE instruction LIKE '%[REDACTED]%'")[0][0] > 0
