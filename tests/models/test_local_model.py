"""The real embedded model (SmolLM2-135M through llama.cpp's server), reached through litellm."""

import pytest
from pydantic import BaseModel

from lbi.config import LocalModelConfig
from lbi.models import local_llm
from lbi.models.llm import LLM, ModelError

pytestmark = pytest.mark.local_model


class Capital(BaseModel):
    country: str
    capital: str


def test_server_is_healthy_and_reused(local_model_config) -> None:
    cfg = local_model_config.local_model
    first = local_llm.status(cfg)
    assert first.running and first.model == local_llm.ALIAS
    again = local_llm.ensure_running(cfg)
    assert again.pid == first.pid  # reused, not restarted
    assert again.threads == local_llm.thread_limit() and again.per_call  # threads = 0: picked per call


def test_chat_through_litellm(local_model_config, project) -> None:
    llm = LLM(local_model_config, store=project.store)
    result = llm.ask("What is the capital of France? Answer in one word.", model="local/smollm2", max_tokens=16)
    assert result.text.strip()
    assert result.prompt_tokens > 5 and result.completion_tokens > 0
    row = project.store.query("SELECT model, ok, cache_hit, latency_ms FROM llm_calls")[0]
    assert (row["model"], row["ok"], row["cache_hit"]) == ("local/smollm2", 1, 0)
    assert row["latency_ms"] > 0


def test_json_schema_output_from_the_local_model(local_model_config) -> None:
    llm = LLM(local_model_config)
    result = llm.complete(
        [{"role": "user", "content": "Give the country France and its capital."}],
        role="agent",
        model="local/smollm2",
        schema=Capital,
        max_tokens=64,
    )
    assert isinstance(result.parsed, Capital)
    assert result.parsed.capital


def test_a_server_that_cannot_start_gives_a_clear_error(tmp_path) -> None:
    bad = LocalModelConfig(port=8798, model_path=str(tmp_path / "missing.gguf"))
    with pytest.raises(local_llm.LocalModelError, match="missing.gguf"):
        local_llm.ensure_running(bad)
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a gguf file")
    with pytest.raises(local_llm.LocalModelError, match="exited"):
        local_llm.ensure_running(LocalModelConfig(port=8798, model_path=str(broken), start_timeout_s=60))
    from lbi.config import Config

    config = Config()
    config.local_model = LocalModelConfig(port=8798, model_path=str(broken), start_timeout_s=60)
    with pytest.raises(ModelError, match="exited"):
        LLM(config).ask("hi")


def test_a_stopped_server_is_started_again_within_the_call(local_model_config, monkeypatch) -> None:
    # `make run PORT=8611` exports PORT; llama_cpp.server would listen there instead of on its own port
    monkeypatch.setenv("PORT", "8611")
    llm = LLM(local_model_config)
    assert llm.ask("Say hi.", model="local/smollm2", max_tokens=4).text
    local_llm.stop(local_model_config.local_model)  # e.g. killed by the user between two calls
    # the client checked the server moments ago, so its first attempt goes to the dead port
    result = llm.ask("Say hello.", model="local/smollm2", max_tokens=4)
    assert result.text
    assert local_llm.status(local_model_config.local_model).running


def test_a_busy_server_counts_as_running_and_a_failed_start_keeps_its_pid_file(tmp_path, monkeypatch) -> None:
    """llama.cpp's server answers one request at a time: during a long completion the health check times
    out, but the server is ours and listening, so nobody may start a second one on its port."""
    import json
    import os
    import socket

    monkeypatch.setenv("LBI_HOME", str(tmp_path))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()  # accepts connections, never answers
    cfg = LocalModelConfig(port=listener.getsockname()[1], start_timeout_s=30)
    pidfile = tmp_path / "local_llm" / f"server-{cfg.port}.json"
    pidfile.parent.mkdir(parents=True)
    pidfile.write_text(json.dumps({"pid": os.getpid(), "threads": 1, "port": cfg.port}))
    try:
        state = local_llm.status(cfg)
        assert state.running and state.detail == "busy"
        assert local_llm.ensure_running(cfg).pid == os.getpid()  # reused, nothing started
        pidfile.write_text(json.dumps({"pid": 999999999, "threads": 1, "port": cfg.port}))
        with pytest.raises(local_llm.LocalModelError, match="exited"):
            local_llm.ensure_running(cfg)  # a new server cannot bind the taken port...
        assert json.loads(pidfile.read_text())["pid"] == 999999999  # ...and does not overwrite the pid file
    finally:
        listener.close()


def test_the_server_counts_prompt_tokens_as_it_bills_them(local_model_config) -> None:
    llm = LLM(local_model_config)
    messages = [
        {"role": "system", "content": "You answer in JSON."},
        {"role": "user", "content": "Give the country France and its capital. " * 20},
    ]
    counted = llm.count_tokens(messages, role="agent", model="local/smollm2", schema=Capital)
    billed = llm.complete(messages, role="agent", model="local/smollm2", schema=Capital, max_tokens=32).prompt_tokens
    assert abs(counted - billed) <= 3 and counted > 200
    assert llm.context_window("agent", model="local/smollm2") == local_model_config.local_model.n_ctx
