"""A trained model served as `local/NAME`: its Hugging Face folder converted to GGUF with llama.cpp's own
converter, served by the embedded server beside the bundled model, and called like any model. The model is
the tiny random Llama of tests/tiny_model.py; constrained decoding makes even its replies valid JSON."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel

from lbi.config import Config
from lbi.errors import UnknownChoiceError
from lbi.models import local_llm
from lbi.models.convert import ConversionError, to_gguf
from lbi.models.llm import LLM, UnknownModelError
from lbi.models.trained import TrainedModelError, publish, trained_model
from lbi.project import Project, init_project


class Pick(BaseModel):
    color: Literal["red", "green", "blue"]  # a bounded reply: random weights cannot run past max_tokens


PICK = [{"role": "user", "content": "Pick a color."}]


@pytest.fixture
def served_project(local_model_config: Config, tmp_path: Path) -> Project:
    """A project on the test server's port, its replies not cached."""
    config = Config(project="trained")
    config.local_model = local_model_config.local_model.model_copy()
    config.llm.cache = False
    return init_project(tmp_path / "proj", config)


@pytest.mark.local_model
def test_a_trained_model_is_served_beside_the_bundled_one(served_project: Project, tiny_model: Path) -> None:
    shutil.copytree(tiny_model, trained_model(served_project.dir, "tiny").hf_dir)
    assert publish(served_project.dir, "tiny") == "local/tiny"
    assert sorted(p.name for p in trained_model(served_project.dir, "tiny").dir.iterdir()) == ["hf", "model.gguf"]

    llm = LLM(served_project.config)
    reply = llm.complete(PICK, role="agent", model="local/tiny", schema=Pick, max_tokens=32)
    assert isinstance(reply.parsed, Pick) and reply.model == "local/tiny"
    served = local_llm.status(served_project.config.local_model)
    alias = trained_model(served_project.dir, "tiny").alias()
    assert served.models == [local_llm.ALIAS, alias]

    bundled = llm.complete(PICK, role="agent", model="local/smollm2", schema=Pick, max_tokens=32)
    assert isinstance(bundled.parsed, Pick)
    assert local_llm.status(served_project.config.local_model).pid == served.pid  # switching models: no restart
    assert llm.count_tokens(PICK, role="agent", model="local/tiny") == llm.count_tokens(
        PICK, role="agent", model="local/smollm2"
    )  # SmolLM2's tokenizer and template, kept

    # a second trained model restarts the server with it added, keeping what it served
    other = trained_model(served_project.dir, "other")
    other.dir.mkdir()
    shutil.copy(trained_model(served_project.dir, "tiny").gguf, other.gguf)
    assert llm.complete(PICK, role="agent", model="local/other", schema=Pick, max_tokens=32).parsed
    again = local_llm.status(served_project.config.local_model)
    assert again.pid != served.pid and again.models == [local_llm.ALIAS, alias, other.alias()]


def test_the_reply_cache_tells_a_retrained_model_from_the_one_before(project: Project) -> None:
    """The alias, and so the cache's name for the model, follows the GGUF file: retrained, it answers anew."""
    model = trained_model(project.dir, "v1")
    model.dir.mkdir(parents=True)
    model.gguf.write_bytes(b"weights")
    llm = LLM(project.config)
    before = llm.model("local/v1").cache_name()
    model.gguf.write_bytes(b"retrained weights")
    os.utime(model.gguf, ns=(1, 1))  # whatever the clock's resolution
    assert llm.model("local/v1").cache_name() != before
    assert llm.model("local/smollm2").cache_name() == "local/smollm2"


def test_a_missing_trained_model_says_how_to_make_it(project: Project) -> None:
    assert project.config.project_dir == project.dir.resolve()
    with pytest.raises(local_llm.LocalModelError, match=r"no trained model nope in .*: run `lbi train --name nope`"):
        trained_model(project.dir, "nope").served_gguf()
    with pytest.raises(UnknownModelError, match=r"no trained model nope in .*: run `lbi train --name nope`"):
        LLM(project.config).ask("hi", model="local/nope")  # every call would fail alike: the agent loop stops
    with pytest.raises(UnknownModelError, match="lives in a project"):
        LLM(Config()).ask("hi", model="local/nope")
    for bad in ("../up", "smollm2", "a b", ""):
        with pytest.raises(TrainedModelError, match="cannot name a trained model"):
            trained_model(project.dir, bad)


def test_a_folder_that_is_no_model_fails_conversion_naming_it(tmp_path: Path, tiny_model: Path) -> None:
    out = tmp_path / "out" / "model.gguf"
    with pytest.raises(ConversionError, match="no config.json"):
        to_gguf(tmp_path / "missing", out)
    with pytest.raises(UnknownChoiceError, match="unknown quantization 'Q9_9'"):
        to_gguf(tiny_model, out, quant="Q9_9")
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model, broken)
    (broken / "config.json").write_text("{not json")  # the converter fails soon after it starts (torch loaded)
    with pytest.raises(ConversionError, match=rf"converting {broken} to GGUF failed"):
        to_gguf(broken, out)
    assert list(out.parent.iterdir()) == []  # no half-written file, no temporary folder left
