"""`lbi train` on a tiny random model of the embedded model's shape: the loss is on the replies only, the run is
recorded with what it trained on, an interrupted run resumes, and bad input gets one clear message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lbi.models.local import chat_prompt
from lbi.project import Project
from lbi.store import read
from lbi.train.base import BaseModelError
from lbi.train.data import CHATML_TRAINING_TEMPLATE, TrainDataError, training_data
from lbi.train.sft import TrainError, last_checkpoint, train
from tests.use.test_export import _agent_run, _keep

TINY: dict[str, Any] = {
    "epochs": 1.0,
    "grad_accum": 1,
    "max_seq_len": 2048,
    "lora_r": 4,
    "lora_alpha": 8,
    "save_steps": 1,
}


@pytest.fixture
def kept(sql_project: Project) -> Project:
    """The SQL project with one 4-step agent episode kept whole and its last two steps kept as a second example."""
    tid, _ = _agent_run(sql_project, "llm")
    _keep(sql_project, tid, 0, 3, "How many items are there?")
    _keep(sql_project, tid, 2, 3, "Count the items")
    return sql_project


def test_the_training_text_is_the_served_prompt_and_the_loss_is_on_the_replies_only(
    kept: Project, tiny_model: Path
) -> None:
    from transformers import AutoTokenizer, BatchEncoding

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    record = training_data(kept, per="example").records[0]
    messages = record["messages"]
    text = tokenizer.apply_chat_template(messages, tokenize=False, chat_template=CHATML_TRAINING_TEMPLATE)
    assert isinstance(text, str)
    assert text.startswith(chat_prompt(messages[:2]))  # what llama.cpp's server feeds the model at the first step
    assert text == tokenizer.apply_chat_template(messages, tokenize=False)  # SmolLM2's own template, same text
    out = tokenizer.apply_chat_template(
        messages,
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=True,
        chat_template=CHATML_TRAINING_TEMPLATE,
    )
    assert isinstance(out, BatchEncoding)
    trained = [t for t, m in zip(out["input_ids"], out["assistant_masks"], strict=True) if m]
    replies = "".join(m["content"] + "<|im_end|>" for m in messages if m["role"] == "assistant")
    assert tokenizer.decode(trained) == replies


def test_training_records_the_run_and_writes_the_adapter_and_merged_model(kept: Project, tiny_model: Path) -> None:
    report = train(kept, "t1", base_model=str(tiny_model), publish=False, **TINY)
    assert (report.records, report.examples, report.too_long) == (6, 2, 0)  # 4 + 2 steps
    assert report.steps == 6 and report.tokens > 0 and report.final_loss is not None
    for part in ("adapter/adapter_config.json", "hf/config.json", "hf/model.safetensors", "hf/tokenizer.json"):
        assert (report.out / part).exists(), part
    (row,) = read.train_runs(kept.store)
    assert row["status"] == "done" and row["base_model"] == str(tiny_model)
    assert sorted(row["examples"]) == sorted(training_data(kept).example_ids) and len(row["examples_hash"]) == 16
    assert row["config"]["lora_r"] == 4 and row["tokens"] == report.tokens and row["wall_s"] > 0
    curve = read.train_log(kept.store, row["run_id"])
    assert [p["step"] for p in curve] == list(range(1, 7)) and all(p["loss"] > 0 for p in curve)


class _StopAt:
    """A trainer callback that presses Ctrl-C after optimizer step `n`."""

    def __init__(self, n: int) -> None:
        from transformers import TrainerCallback

        self.n = n
        self.__class__ = type("StopAt", (_StopAt, TrainerCallback), {})

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step == self.n:
            raise KeyboardInterrupt


def test_an_interrupted_run_says_how_to_resume_and_resumes_from_its_checkpoint(kept: Project, tiny_model: Path) -> None:
    message = r"interrupted at step 3; its last checkpoint is step 2: `lbi train --name t2` resumes"
    with pytest.raises(TrainError, match=message):
        train(kept, "t2", base_model=str(tiny_model), publish=False, callbacks=[_StopAt(3)], **TINY)
    assert read.train_runs(kept.store)[0]["status"] == "failed"
    assert (checkpoint := last_checkpoint(kept.dir / "models" / "t2" / "checkpoints"))
    assert checkpoint.name == "checkpoint-2"
    report = train(kept, "t2", base_model=str(tiny_model), publish=False, **TINY)
    assert report.resumed_from == 2 and report.steps == 6
    run_id = read.train_runs(kept.store)[0]["run_id"]
    assert [p["step"] for p in read.train_log(kept.store, run_id)] == list(range(1, 7))


def test_a_resumed_run_refuses_changed_data(kept: Project, tiny_model: Path) -> None:
    with pytest.raises(TrainError):
        train(kept, "t3", base_model=str(tiny_model), publish=False, callbacks=[_StopAt(2)], **TINY)
    tid = kept.store.query("SELECT id FROM trajectories")[0][0]
    _keep(kept, tid, 1, 1, "List the item names")
    with pytest.raises(TrainDataError, match="changed since training run 't3' started"):
        train(kept, "t3", base_model=str(tiny_model), publish=False, **TINY)
    assert train(kept, "t3", base_model=str(tiny_model), publish=False, fresh=True, **TINY).resumed_from is None


def test_nothing_kept_is_one_clear_message(sql_project: Project) -> None:
    with pytest.raises(TrainDataError, match="no kept examples to train on under the `strict` judge policy"):
        train(sql_project, "t", publish=False)


def test_a_base_model_that_cannot_be_loaded_is_named(kept: Project, tmp_path: Path) -> None:
    with pytest.raises(BaseModelError, match=r"base model directory .*nowhere does not exist"):
        train(kept, "t", base_model=str(tmp_path / "nowhere"), publish=False)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.gguf").write_bytes(b"GGUF not really")
    kept.config.local_model.model_path = str(bad / "broken.gguf")
    with pytest.raises(BaseModelError, match=r"cannot load the GGUF file .*broken.gguf"):
        train(kept, "t", publish=False)


def test_training_can_count_only_some_judges(sql_project: Project) -> None:
    """The grounded-only ablation's other arm: the committee without one judge keeps what that judge refused."""
    tid, _ = _agent_run(sql_project, "llm")
    first, second = sql_project.store.add_examples(
        [
            {
                "trajectory_id": tid,
                "span_start": 0,
                "span_end": 3,
                "mode": "per-span",
                "instruction": "Count the items",
            },
            {"trajectory_id": tid, "span_start": 2, "span_end": 3, "mode": "per-span", "instruction": "Run a query"},
        ]
    )
    names = [j.name for j in sql_project.config.models.judges]
    for name in names:
        sql_project.store.set_verdict(first, name, True, "yes")
        sql_project.store.set_verdict(second, name, name != "grounding", "no" if name == "grounding" else "yes")
    assert training_data(sql_project).example_ids == [first]
    without = [n for n in names if n != "grounding"]
    assert training_data(sql_project, judges=without).example_ids == [first, second]
    with pytest.raises(TrainDataError, match="unknown judge 'groundng': the committee is accomplishment"):
        training_data(sql_project, judges=["groundng"])


def test_held_out_and_evaluation_trajectories_are_never_trained_on(kept: Project) -> None:
    kept.store.update_task("s1", split="heldout")
    with pytest.raises(TrainDataError, match="no kept examples|held-out"):
        training_data(kept)


def test_a_full_disk_while_checkpointing_is_one_message_and_the_run_resumes_from_a_complete_checkpoint(
    kept: Project, tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from transformers import Trainer

    real = Trainer._save_checkpoint

    def fills_up(self: Trainer, model: Any, trial: Any) -> None:
        if self.state.global_step < 3:
            return real(self, model, trial)
        partial = Path(self.args.output_dir or "") / f"checkpoint-{self.state.global_step}"
        partial.mkdir(parents=True)
        (partial / "adapter_model.safetensors").write_bytes(b"")  # cut short: no optimizer, no trainer state
        raise OSError(errno.ENOSPC, "No space left on device", str(partial / "optimizer.pt"))

    monkeypatch.setattr(Trainer, "_save_checkpoint", fills_up)
    with pytest.raises(
        TrainError,
        match=r"the disk is full \(writing .*optimizer.pt\): free space and run "
        r"`lbi train --name t4` again",
    ):
        train(kept, "t4", base_model=str(tiny_model), publish=False, **TINY)
    monkeypatch.setattr(Trainer, "_save_checkpoint", real)
    assert (checkpoint := last_checkpoint(kept.dir / "models" / "t4" / "checkpoints"))
    assert checkpoint.name == "checkpoint-2"
    assert train(kept, "t4", base_model=str(tiny_model), publish=False, **TINY).resumed_from == 2


def test_records_longer_than_max_seq_len_are_left_out_and_counted(kept: Project, tiny_model: Path) -> None:
    from transformers import AutoTokenizer

    from lbi.train.data import token_ids

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    lengths = sorted(len(token_ids(tokenizer, r["messages"])) for r in training_data(kept).records)
    assert lengths[0] > 100  # whole prompts, not the keys of a dict
    cut = lengths[2]
    fit = sum(n <= cut for n in lengths)
    assert 3 <= fit < len(lengths)
    train(kept, "short", base_model=str(tiny_model), publish=False, **TINY)  # every record, 6 steps
    report = train(kept, "short", base_model=str(tiny_model), publish=False, fresh=True, **{**TINY, "max_seq_len": cut})
    assert (report.records, report.too_long) == (fit, len(lengths) - fit)
    run_id = read.train_runs(kept.store)[0]["run_id"]
    assert [p["step"] for p in read.train_log(kept.store, run_id)] == list(range(1, fit + 1))  # the old curve is gone
    with pytest.raises(TrainDataError, match="all 6 records are longer than train.max_seq_len = 10 tokens"):
        train(kept, "shorter", base_model=str(tiny_model), publish=False, **{**TINY, "max_seq_len": 10})
