import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from lbi.models import fake_llm
from lbi.config import Config
from lbi.models.llm import LLM, ModelAuthError, OutputParseError, UnknownModelError
from lbi.project import Project
from tests.openai_stub import StubProvider, chat_reply

SECRET = "sk-test-verysecret-0123456789abcdef"


class Plan(BaseModel):
    goal: str
    steps: list[str]
    confidence: int


def _calls(project: Project) -> list[dict]:
    return [dict(r) for r in project.store.query("SELECT * FROM llm_calls ORDER BY id")]


def test_schema_output_is_validated_into_the_model(project: Project) -> None:
    result = project.llm().complete([{"role": "user", "content": "plan a trip"}], role="agent", schema=Plan)
    assert isinstance(result.parsed, Plan)
    assert result.parsed.steps
    # deterministic: the same prompt gives the same reply
    again = project.llm().complete([{"role": "user", "content": "plan a trip"}], role="agent", schema=Plan)
    assert again.parsed == result.parsed


def test_parse_retry_recovers_and_is_bounded(project: Project) -> None:
    fake_llm.enqueue("not json at all", '```json\n{"goal": "g", "steps": ["a"], "confidence": 2}\n```')
    result = project.llm().complete([{"role": "user", "content": "x"}], role="backward", schema=Plan)
    assert result.parsed == Plan(goal="g", steps=["a"], confidence=2)
    assert result.attempts == 2
    fake_llm.enqueue("{", '{"goal": 1}', "[]")
    with pytest.raises(OutputParseError) as info:
        project.llm().complete([{"role": "user", "content": "y"}], role="backward", schema=Plan)
    assert info.value.raw == "[]"
    assert len(_calls(project)) == 5  # 2 + 3 attempts, each logged


def test_cache_hit_on_rerun_and_usage_log(project: Project) -> None:
    llm = project.llm()
    first = llm.complete([{"role": "user", "content": "hello"}], role="task_generator", purpose="generate")
    second = llm.complete([{"role": "user", "content": "hello"}], role="task_generator", purpose="generate")
    assert (first.cache_hit, second.cache_hit) == (False, True)
    assert second.text == first.text
    rows = _calls(project)
    assert [r["cache_hit"] for r in rows] == [0, 1]
    assert rows[0]["role"] == "task_generator" and rows[0]["purpose"] == "generate"
    assert rows[0]["model"] == "fake" and rows[0]["prompt_tokens"] > 0 and rows[0]["ok"] == 1
    # different params are a different cache entry
    third = llm.complete([{"role": "user", "content": "hello"}], role="task_generator", temperature=0.9)
    assert not third.cache_hit


def _stub_config(base_url: str) -> Config:
    config = Config()
    config.models.default = "openai/gpt-4o-mini"
    config.models.api_base = base_url
    config.llm.max_retries = 3
    return config


def test_transient_errors_are_retried(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with StubProvider() as stub:
        stub.script = [(500, {"error": {"message": "overloaded"}}), (503, {"error": {"message": "busy"}}),
                       (200, chat_reply("finally"))]
        llm = LLM(_stub_config(stub.base_url), store=project.store)
        result = llm.ask("hi")
    assert result.text == "finally"
    assert len(stub.requests) == 3
    assert (result.prompt_tokens, result.completion_tokens) == (7, 3)


def test_auth_errors_are_not_retried_and_keys_do_not_leak(project: Project, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with StubProvider() as stub:
        # a provider that echoes the key back in its error: the worst case for leaks
        stub.script = [(401, {"error": {"message": f"Incorrect API key provided: {SECRET}"}})]
        llm = LLM(_stub_config(stub.base_url), store=project.store, cache_dir=tmp_path / "cache")
        with pytest.raises(ModelAuthError) as info:
            llm.ask("hi")
        stub.script = [(200, chat_reply(f"your key is {SECRET}"))]
        reply = llm.ask("echo my key")
    assert len(stub.requests) == 2
    assert stub.requests[0]["headers"]["Authorization"] == f"Bearer {SECRET}"  # the key was used...
    assert SECRET not in str(info.value)  # ...but never repeated
    assert "OPENAI_API_KEY" in str(info.value)
    project.store.close()
    written = [p for p in [*project.dir.rglob("*"), *tmp_path.rglob("*")] if p.is_file()]
    assert any("cache" in str(p) for p in written)
    for path in written:
        assert SECRET.encode() not in path.read_bytes(), path
    assert reply.text  # the caller still gets the reply it asked for
    errors = [r["error"] for r in _calls(project) if not r["ok"]]
    assert errors and SECRET not in errors[0]


def test_unknown_model_string_is_named(project: Project) -> None:
    with pytest.raises(UnknownModelError, match="no-such-provider/model-x"):
        project.llm().ask("hi", model="no-such-provider/model-x")


def test_fake_model_queue_and_responders() -> None:
    fake_llm.register_responder("judge", lambda messages, schema: json.dumps({"verdict": True}))
    assert fake_llm.reply([{"role": "user", "content": "a"}], None, "judge") == '{"verdict": true}'
    fake_llm.enqueue("queued")
    assert fake_llm.reply([{"role": "user", "content": "a"}], None, "judge") == "queued"
