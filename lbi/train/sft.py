"""One supervised fine-tuning run: TRL's `SFTTrainer` with a peft LoRA adapter on the kept examples' records,
the loss on the assistant's replies only; checkpoints so an interrupted run resumes; the run recorded in the
store (what was trained on and its hash, the config, the loss curve, tokens, wall time, peak memory); the
merged model written for serving as `local/<name>`, at `SERVE_QUANT` (Q8_0), and the base model it started from
served beside it at the same precision as `local/base-q8_0` (`lbi.train.base.publish_base`), the model to
compare it with.

Files of run NAME live in `<project>/models/NAME/`: `checkpoints/` (while training), `adapter/` (the LoRA
adapter, what vLLM's LoRA serving loads), `hf/` (base + adapter merged, a Hugging Face model directory) and
`model.gguf` (what the embedded llama.cpp server serves); the served base in `<project>/models/base-<quant>/`.
"""

from __future__ import annotations

import errno
import resource
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lbi.config import Config, TrainConfig
from lbi.errors import UserError
from lbi.models.convert import SERVE_QUANT, check_quant
from lbi.models.trained import TrainedModel, is_base_name, trained_model
from lbi.project import Project
from lbi.store import read
from lbi.train.base import describe, load_base, publish_base
from lbi.train.data import CHATML_TRAINING_TEMPLATE, TrainDataError, TrainingData, token_ids, training_data

Progress = Callable[[int, int], None]
CHECKPOINT_FILES = ("trainer_state.json", "adapter_model.safetensors", "optimizer.pt")


class TrainError(UserError):
    """Training cannot go on (interrupted, disk full, the data changed under a resumed run)."""


@dataclass
class TrainReport:
    name: str
    out: Path
    model: str
    records: int
    too_long: int
    examples: int
    steps: int
    tokens: int
    wall_s: float
    tokens_per_s: float
    peak_rss_mb: float
    final_loss: float | None
    resumed_from: int | None
    base: str = ""
    """The base model served at the trained model's precision (`local/base-q8_0`), when it was published."""


def last_checkpoint(folder: Path) -> Path | None:
    """The newest complete checkpoint in `folder` (one cut short by a full disk or a kill is skipped)."""
    done = [p for p in folder.glob("checkpoint-*") if all((p / f).exists() for f in CHECKPOINT_FILES)]
    return max(done, key=lambda p: int(p.name.rsplit("-", 1)[1]), default=None)


def _fits(data: TrainingData, tokenizer: Any, max_len: int) -> tuple[list[dict[str, Any]], int]:
    """The records whose whole chat fits in `max_len` tokens (a cut record would lose the reply it is for)."""
    keep = [{"messages": r["messages"]} for r in data.records if len(token_ids(tokenizer, r["messages"])) <= max_len]
    return keep, len(data.records) - len(keep)


def _callback(project: Project, run_id: int, progress: Progress | None, started: float, offset_s: float):
    """A transformers callback: every logged step goes to the store's loss curve and the progress bar."""
    from transformers import TrainerCallback

    class StoreLog(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001, ANN202 - transformers' hook
            logs = logs or {}
            if "loss" in logs:
                project.store.add_train_log(
                    run_id,
                    [
                        {
                            "step": state.global_step,
                            "epoch": logs.get("epoch"),
                            "loss": logs["loss"],
                            "learning_rate": logs.get("learning_rate"),
                            "tokens": int(state.num_input_tokens_seen or 0) or logs.get("num_tokens"),
                            "seconds": offset_s + time.monotonic() - started,
                        }
                    ],
                )
                project.store.update_run(
                    run_id,
                    done=state.global_step,
                    total=state.max_steps,
                    message=f"step {state.global_step}/{state.max_steps}, loss {logs['loss']:.3f}",
                )
            if progress:
                progress(state.global_step, state.max_steps)

    return StoreLog()


def _args(cfg: TrainConfig, out: Path):  # noqa: ANN202 - trl is imported late
    from trl import SFTConfig

    return SFTConfig(
        output_dir=str(out / "checkpoints"),
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.epochs,
        max_length=cfg.max_seq_len,
        assistant_only_loss=True,
        logging_steps=1,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=2,
        seed=cfg.seed,
        data_seed=cfg.seed,
        use_cpu=True,
        bf16=False,
        gradient_checkpointing=False,
        optim="adamw_torch",
        report_to=[],
        disable_tqdm=True,
        include_num_input_tokens_seen=True,
        dataloader_num_workers=0,
    )


def _check_same_data(project: Project, run_id: int, data: TrainingData, out: Path, name: str) -> None:
    previous = next((r for r in read.train_runs(project.store) if r["run_id"] == run_id), None)
    if (
        previous
        and previous["examples_hash"]
        and previous["examples_hash"] != data.digest
        and last_checkpoint(out / "checkpoints")
    ):
        raise TrainDataError(
            f"the kept examples changed since training run {name!r} started (hash "
            f"{previous['examples_hash']} → {data.digest}): give a new --name, or --fresh to "
            "start this one over"
        )


def train(
    project: Project,
    name: str = "sft",
    *,
    fresh: bool = False,
    progress: Progress | None = None,
    publish: bool = True,
    quant: str = SERVE_QUANT,
    callbacks: list[Any] | None = None,
    **overrides: Any,
) -> TrainReport:
    """Fine-tune the base model on the kept examples into `<project>/models/<name>/` (resuming from its last
    checkpoint unless `fresh`); `overrides` replace `[train]` settings for this run. With `publish`, the merged
    model is served as `local/<name>` at `quant` and the base beside it at the same precision."""
    cfg = project.config.train.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    config = project.config.model_copy(update={"train": cfg})
    quant = check_quant(quant)  # an unknown quantization is refused before anything is trained
    files = trained_model(project.dir, name)  # checks the name before anything is trained
    if is_base_name(name):
        raise TrainError(
            f"{name!r} is the name the base model is served under (local/{name}): give the training run another --name"
        )
    out = files.dir
    if fresh and out.exists():
        shutil.rmtree(out)
    data = training_data(
        project,
        per=cfg.per,
        policy=cfg.policy,
        judges=cfg.judges,
        modes=cfg.modes,
        max_records=cfg.max_records,
        max_per_instruction=cfg.max_per_instruction,
    )
    with project.run(name, "train", {"train": cfg.model_dump()}) as run:
        _check_same_data(project, run.id, data, out, name)
        if fresh:
            project.store.clear_train_log(run.id)
        project.store.set_train_run(
            run.id,
            base_model=describe(config),
            examples_json=data.example_ids,
            examples_hash=data.digest,
            config_json={**cfg.model_dump(), "policy": data.policy},
        )
        run.progress(message="loading the base model")
        report = _fit(project, run.id, name, config, data, files, progress, callbacks or [])
        if publish:
            run.progress(message=f"converting the trained model for serving ({quant})")
            report.model = _publish(project, name, quant)
            run.progress(message=f"serving the base model at {quant} beside it")
            report.base = publish_base(project.dir, config, quant)
        project.store.set_train_run(
            run.id,
            base_model=describe(config),
            model=report.model or None,
            # the base served beside it (`local/base-q8_0`): the model its evaluation is compared with (lineage)
            config_json={**cfg.model_dump(), "policy": data.policy, "served_base": report.base},
            records=report.records,
            tokens=report.tokens,
            wall_s=report.wall_s,
            tokens_per_s=report.tokens_per_s,
            peak_rss_mb=report.peak_rss_mb,
        )
        run.progress(
            report.steps,
            report.steps,
            f"{report.records} records, {report.steps} steps, final loss "
            + (f"{report.final_loss:.3f}" if report.final_loss is not None else "n/a"),
        )
    return report


def _fit(
    project: Project,
    run_id: int,
    name: str,
    config: Config,
    data: TrainingData,
    files: TrainedModel,
    progress: Progress | None,
    callbacks: list[Any],
) -> TrainReport:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import PrinterCallback
    from trl import SFTTrainer

    cfg, out = config.train, files.dir
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    model, tokenizer = load_base(config)
    served_template = tokenizer.chat_template
    records, too_long = _fits(data, tokenizer, cfg.max_seq_len)
    if not records:
        raise TrainDataError(
            f"all {len(data.records)} records are longer than train.max_seq_len = "
            f"{cfg.max_seq_len} tokens: raise it (the embedded model holds 8192)"
        )
    tokenizer.chat_template = CHATML_TRAINING_TEMPLATE
    lora = LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=list(cfg.target_modules),
        task_type="CAUSAL_LM",
    )
    resume = last_checkpoint(out / "checkpoints")
    logged = read.train_log(project.store, run_id) if resume else []
    offset = (logged[-1]["seconds"] or 0.0) if logged else 0.0  # a resumed run's clock goes on
    started = time.monotonic()
    trainer = SFTTrainer(
        model=model,
        args=_args(cfg, out),
        train_dataset=Dataset.from_list(records),
        processing_class=tokenizer,
        peft_config=lora,
        callbacks=[_callback(project, run_id, progress, started, offset), *callbacks],
    )
    trainer.remove_callback(PrinterCallback)  # the progress bar and the store have the loss; no dicts on stdout
    try:
        result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    except KeyboardInterrupt as exc:
        last = last_checkpoint(out / "checkpoints")
        saved = f"its last checkpoint is step {last.name.rsplit('-', 1)[1]}" if last else "no checkpoint yet"
        raise TrainError(
            f"training run {name!r} interrupted at step {trainer.state.global_step}; {saved}: "
            f"`lbi train --name {name}` resumes"
        ) from exc
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        raise TrainError(
            f"the disk is full (writing {exc.filename or out}): free space and run `lbi train --name "
            f"{name}` again; it resumes from the last complete checkpoint"
        ) from exc
    wall = offset + time.monotonic() - started
    tokens = int(trainer.state.num_input_tokens_seen or 0)
    _save(trainer, tokenizer, served_template, files)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return TrainReport(
        name=name,
        out=out,
        model="",
        records=len(records),
        too_long=too_long,
        examples=len(data.example_ids),
        steps=trainer.state.global_step,
        tokens=tokens,
        wall_s=wall,
        tokens_per_s=tokens / max(result.metrics.get("train_runtime", wall), 1e-9),
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        final_loss=losses[-1] if losses else None,
        resumed_from=int(resume.name.rsplit("-", 1)[1]) if resume else None,
    )


def _save(trainer: Any, tokenizer: Any, served_template: str, files: TrainedModel) -> None:
    """The adapter (for LoRA serving) and the merged model (for GGUF), each written whole then moved in place."""
    tokenizer.chat_template = served_template  # the served model keeps the template llama.cpp applies
    for target in (files.adapter_dir, files.hf_dir):
        tmp = target.with_name(f".{target.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        if target == files.adapter_dir:
            trainer.model.save_pretrained(tmp)
        else:
            trainer.model.merge_and_unload().save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)


def _publish(project: Project, name: str, quant: str) -> str:
    """Convert the merged model to the GGUF the embedded server serves; the model string that names it."""
    from lbi.models.trained import publish

    return publish(project.dir, name, quant)
