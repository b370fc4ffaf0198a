"""What `lbi train` serves is what it trained (issue 27's finding: a 4-bit GGUF of SmolLM2's merged weights answered
like the untrained base). A tiny model trained on one episode, served through the model seam as `local/NAME`,
gives the reply it was trained on to that episode's first prompt; the base it started from, served beside it at
the same precision as `local/base-q8_0`, does not, and answers exactly as the base's own weights converted
directly do. What it holds for precision is that both are served at `SERVE_QUANT`: served at Q4_1, this tiny
model (seed 0) wrote the trained reasoning and then broke off into noise inside the action (tried once on this
machine), which shows the same loss as SmolLM2's (`bench/trained_precision.py`) but depends on the random weights
too much to assert."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from lbi.config import Config
from lbi.errors import OutputParseError, UnknownChoiceError
from lbi.models.convert import SERVE_QUANT, file_quant
from lbi.models.fake import FakeModel
from lbi.models.llm import LLM, UnknownModelError
from lbi.models.trained import base_name, publish, trained_model
from lbi.project import Project
from lbi.prompts.replies import reply_schema
from lbi.store import read
from lbi.synth.rollout import rollout
from lbi.train.base import publish_base
from lbi.train.data import training_data
from lbi.train.sft import TrainError, train
from tests.tiers import starts

REPLIES = [("count the items first", "execute_sql('SELECT COUNT(*) FROM items')"), ("there are two items", "stop('2')")]
MEMORIZE: dict[str, Any] = {
    "epochs": 12.0,
    "learning_rate": 3e-2,
    "grad_accum": 1,
    "max_seq_len": 2048,
    "lora_r": 16,
    "lora_alpha": 32,
    "lora_dropout": 0.0,
    "save_steps": 1000,
    "per": "example",
}
"""Enough for the tiny model to learn the episode's first reply by heart (12 steps over the one 2-turn record)."""


@pytest.fixture(scope="module")
@starts("training")
def learnable_tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random Llama with wide embeddings (initializer_range 0.5): with the default 0.02 a LoRA adapter,
    which leaves the embeddings and the final norm alone, cannot lift any token's logit clear of the others."""
    from tests.tiny_model import make_tiny_model

    return make_tiny_model(
        tmp_path_factory.mktemp("learnable") / "model", tmp_path_factory.mktemp("tokenizer"), initializer_range=0.5
    )


@pytest.fixture
def one_episode(sql_project: Project, local_model_config: Config) -> Project:
    """The SQL project, served on the test server, with one scripted 2-step episode kept whole."""

    def act(messages: list[dict[str, Any]], schema: dict[str, Any] | None) -> str:
        reasoning, action = REPLIES[_step(messages)]
        return json.dumps({"reasoning": reasoning, "action": action})

    FakeModel.register_responder("act", act)
    sql_project.store.add_tasks([{"id": "count", "instruction": "How many items are there?", "env": "sql"}])
    rollout(sql_project, "scripted", policy="llm", task_ids=["count"], episodes=1, concurrency=1, max_steps=2)
    tid = sql_project.store.query("SELECT id FROM trajectories")[0][0]
    (example,) = sql_project.store.add_examples(
        [
            {
                "trajectory_id": tid,
                "span_start": 0,
                "span_end": 1,
                "mode": "per-span",
                "instruction": "How many items are there?",
            }
        ]
    )
    sql_project.store.add_override(example, "keep", who="tester")
    sql_project.config.local_model = local_model_config.local_model.model_copy()
    sql_project.config.llm.cache = False
    sql_project.config.llm.temperature = 0.0  # greedy: a served model's reply is its most likely one
    return sql_project


def _step(messages: list[dict[str, Any]]) -> int:
    """The step the agent is at, from the previous actions its turn lists."""
    return 0 if "Previous actions:\n(none yet)" in messages[-1]["content"] else 1


def _act(project: Project, model: str, prompt: list[dict[str, Any]]) -> str:
    """The agent's act call on `prompt` with `model`: the environment's reply schema, greedy; the raw reply."""
    with project.make_env() as env:
        schema = reply_schema(None, env.action_pattern())
    try:
        return (
            LLM(project.config)
            .complete(
                prompt,
                role="agent",
                purpose="act",
                schema=schema,
                hint=False,
                model=model,
                parse_retries=0,
                max_tokens=64,
            )
            .text
        )
    except OutputParseError as exc:  # random weights may not finish the JSON in 64 tokens: still not the reply
        return exc.raw


@pytest.mark.local_model
def test_a_trained_model_served_gives_its_training_reply_and_the_base_at_the_same_precision_does_not(
    one_episode: Project, learnable_tiny_model: Path
) -> None:
    project, tiny_model = one_episode, learnable_tiny_model
    (record,) = training_data(project, per="example").records  # the episode: system, then 2 × (turn, reply)
    prompt, trained_reply = record["messages"][:2], record["messages"][2]["content"]
    assert json.loads(trained_reply) == dict(zip(("reasoning", "action"), REPLIES[0], strict=True))

    report = train(project, "memo", base_model=str(tiny_model), **MEMORIZE)
    assert (report.model, report.base) == ("local/memo", f"local/{base_name()}") == ("local/memo", "local/base-q8_0")
    served = project.store.query("SELECT json_extract(config_json, '$.served_base') FROM train_runs")[0][0]
    assert served == report.base  # what the lineage pairs the trained model's evaluation with
    for name in ("memo", "base-q8_0"):
        assert file_quant(trained_model(project.dir, name).gguf) == SERVE_QUANT == "Q8_0"

    assert json.loads(_act(project, report.model, prompt)) == json.loads(trained_reply)
    base_reply = _act(project, report.base, prompt)
    assert base_reply != trained_reply and REPLIES[0][1] not in base_reply

    # the served base is the weights training started from, converted the same way: the same greedy reply
    direct = trained_model(project.dir, "direct")
    shutil.copytree(tiny_model, direct.hf_dir)
    publish(project.dir, "direct")
    assert _act(project, "local/direct", prompt) == base_reply


def test_the_served_base_is_published_once_per_base_and_precision(
    sql_project: Project, tiny_model: Path, tmp_path: Path
) -> None:
    config = sql_project.config.model_copy(deep=True)
    config.train.base_model = str(tiny_model)
    assert publish_base(sql_project.dir, config) == "local/base-q8_0"
    served = trained_model(sql_project.dir, "base-q8_0")
    made = served.gguf.stat().st_mtime_ns
    assert (source := served.source())
    assert source == {"base_model": str(tiny_model), "weights": source["weights"], "quant": "Q8_0"}
    assert publish_base(sql_project.dir, config, "q8_0") == "local/base-q8_0"
    assert served.gguf.stat().st_mtime_ns == made  # the same base at the same precision: nothing redone
    assert sorted(p.name for p in served.dir.iterdir()) == ["model.gguf", "source.json"]  # no Hugging Face copy kept

    other = tmp_path / "other-base"
    shutil.copytree(tiny_model, other)
    config.train.base_model = str(other)
    publish_base(sql_project.dir, config)
    assert served.gguf.stat().st_mtime_ns != made and (source := served.source()) and source["base_model"] == str(other)
    assert publish_base(sql_project.dir, config, "F16") == "local/base-f16"
    assert file_quant(trained_model(sql_project.dir, "base-f16").gguf) == "F16"


def test_an_unknown_quantization_or_the_base_s_name_is_refused_before_training_starts(sql_project: Project) -> None:
    """(The CLI's one-line errors for these are rows of tests/cli/test_user_mistakes.py.)"""
    with pytest.raises(UnknownChoiceError, match="unknown quantization 'Q9_9'"):
        train(sql_project, "t", quant="Q9_9")
    with pytest.raises(TrainError, match="'base-q8_0' is the name the base model is served under"):
        train(sql_project, "base-q8_0")
    assert read.train_runs(sql_project.store) == []
    with pytest.raises(
        UnknownModelError,
        match=r"the base model is not published at Q8_0 in .*: run `lbi llm "
        r"publish-base --quant Q8_0",
    ):
        LLM(sql_project.config).ask("hi", model="local/base-q8_0")
