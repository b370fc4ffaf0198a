import json
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from lbi.config import Config
from lbi.models.fake import FakeModel
from lbi.models.litellm_model import LitellmModel
from lbi.models.llm import LLM, ModelAuthError, ModelError, OutputParseError, UnknownModelError
from lbi.models.local import LocalModel, chat_prompt
from lbi.models.registry import get_model, model_class
from lbi.models.schema import skeleton, walk
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
    FakeModel.enqueue("not json at all", '```json\n{"goal": "g", "steps": ["a"], "confidence": 2}\n```')
    result = project.llm().complete([{"role": "user", "content": "x"}], role="backward", schema=Plan)
    assert result.parsed == Plan(goal="g", steps=["a"], confidence=2)
    assert result.attempts == 2
    FakeModel.enqueue("{", '{"goal": 1}', "[]")
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
        stub.script = [
            (500, {"error": {"message": "overloaded"}}),
            (503, {"error": {"message": "busy"}}),
            (200, chat_reply("finally")),
        ]
        llm = LLM(_stub_config(stub.base_url), store=project.store)
        result = llm.ask("hi")
    assert result.text == "finally"
    assert len(stub.requests) == 3
    assert (result.prompt_tokens, result.completion_tokens) == (7, 3)


def test_auth_errors_are_not_retried_and_keys_do_not_leak(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
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
    with pytest.raises(UnknownModelError, match="no-such-provider/model-x") as info:
        project.llm().ask("hi", model="no-such-provider/model-x")
    assert "use a litellm model string such as 'openai/gpt-4o-mini'" in str(info.value)
    assert "'local/smollm2' in [models] of lbi.toml" in str(info.value)


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("fake", FakeModel),
        ("fake/judge-a", FakeModel),
        ("local/smollm2", LocalModel),
        ("openai/gpt-4o-mini", LitellmModel),
        ("ollama/llama3.1", LitellmModel),
        ("gpt-4o-mini", LitellmModel),
        ("fakeish/x", LitellmModel),
        ("no-such-provider/model-x", LitellmModel),
    ],
)
def test_the_registry_resolves_a_model_string_by_its_provider_prefix(name: str, cls: type) -> None:
    assert model_class(name) is cls
    model = get_model(name, Config())
    assert type(model) is cls and model.name == name


def test_each_kind_of_model_asks_for_json_and_knows_its_context_window() -> None:
    config = Config()
    config.local_model.n_ctx = 1234
    local, remote, fake = (get_model(name, config) for name in ("local/smollm2", "openai/gpt-4o-mini", "fake"))
    assert isinstance(local, LocalModel) and isinstance(remote, LitellmModel)
    assert local.response_format(Plan) == {"type": "json_object", "schema": Plan.model_json_schema()}
    assert remote.response_format(Plan)["json_schema"]["schema"] == Plan.model_json_schema()
    assert (local.context_window(), fake.context_window()) == (1234, None)
    assert (window := remote.context_window()) and window > 100_000  # from litellm's model list
    llm = LLM(config)
    assert llm.context_window("agent", model="local/smollm2") == 1234  # no server needed to know it
    config.llm.context_window = 4096
    assert llm.context_window("agent", model="fake") == 4096  # the configured window wins


def test_the_local_model_counts_over_its_chat_template() -> None:
    text = chat_prompt([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])
    assert text == ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")


def test_count_tokens_includes_the_schema_hint(project: Project) -> None:
    llm = project.llm()
    messages = [{"role": "user", "content": "plan a trip"}]
    assert llm.count_tokens(messages, role="agent", schema=Plan) > llm.count_tokens(messages, role="agent") > 0


def test_a_scripted_transient_error_is_retried_and_a_lasting_one_fails(project: Project) -> None:
    project.config.llm.max_retries = 1
    FakeModel.enqueue("litellm.RateLimitError", "recovered")
    assert project.llm().ask("hi").text == "recovered"
    FakeModel.enqueue("litellm.InternalServerError", "litellm.InternalServerError", "never asked")
    with pytest.raises(ModelError, match="fake: InternalServerError"):
        project.llm().ask("hi again")
    assert FakeModel.reply([{"role": "user", "content": "x"}]) == "never asked"
    assert [r["ok"] for r in _calls(project)] == [1, 0]  # one call logged per request, not per attempt


def test_one_schema_walker_gives_the_prompt_skeleton_and_the_fake_replies() -> None:
    class Step(BaseModel):
        action: str
        kind: Literal["click", "fill"]

    class Trace(BaseModel):
        steps: list[Step] = Field(min_length=2)
        note: str | None = None
        done: bool
        answer: str = Field(examples=["42"])

    schema = Trace.model_json_schema()
    seen: list[tuple] = []
    walk(schema, lambda node, path: seen.append(path))
    assert seen == [("steps", 0, "action"), ("steps", 0, "kind"), ("note",), ("done",), ("answer",)]
    assert skeleton(schema) == {
        "steps": [{"action": "...", "kind": "..."}],
        "note": "...",
        "done": True,
        "answer": "42",
    }
    reply = Trace.model_validate_json(FakeModel.reply([{"role": "user", "content": "go"}], schema))
    assert len(reply.steps) == 2 and reply.steps[0] != reply.steps[1]  # each element from its own hash
    assert reply.steps[0].action.startswith("action: ") and (reply.note or "").startswith("note: ")
    assert reply == Trace.model_validate_json(FakeModel.reply([{"role": "user", "content": "go"}], schema))


def test_fake_model_queue_and_responders() -> None:
    FakeModel.register_responder("judge", lambda messages, schema: json.dumps({"verdict": True}))
    assert FakeModel.reply([{"role": "user", "content": "a"}], None, "judge") == '{"verdict": true}'
    FakeModel.enqueue("queued")
    assert FakeModel.reply([{"role": "user", "content": "a"}], None, "judge") == "queued"
