"""`lbi train`: fine-tune on the kept examples and serve the result as `local/<name>`, with the base model beside
it at the same precision as `local/base-<quant>`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lbi.cli.common import ProjectOpt, console, progress_bar
from lbi.models.convert import SERVE_QUANT
from lbi.project import open_project


def train_cmd(
    project: ProjectOpt = Path("."),
    name: Annotated[
        str,
        typer.Option(
            help="Training run name; re-running it resumes from its last "
            "checkpoint. The trained model is served as local/NAME."
        ),
    ] = "sft",
    base_model: Annotated[
        str,
        typer.Option(help="Hugging Face model id or directory (default: train.base_model, else the embedded model)."),
    ] = "",
    per: Annotated[str, typer.Option(help="One record per 'step' or per 'example' (default: config).")] = "",
    policy: Annotated[str, typer.Option(help="Judge policy deciding what is trained on (default: config).")] = "",
    judge: Annotated[
        list[str] | None,
        typer.Option(help="Count only this judge's verdicts (repeat it; default: train.judges, else the committee)."),
    ] = None,
    mode: Annotated[
        list[str] | None,
        typer.Option(
            help="Train only on examples of this backward mode (repeat it; e.g. goal: the reward-filtered "
            "pairs alone; default: train.modes, else every mode)."
        ),
    ] = None,
    epochs: Annotated[float, typer.Option(help="Passes over the records (0: config).")] = 0,
    learning_rate: Annotated[float, typer.Option(help="Peak learning rate (0: config).")] = 0,
    max_seq_len: Annotated[int, typer.Option(help="Tokens per record (0: config).")] = 0,
    max_records: Annotated[int, typer.Option(help="At most this many records, a seeded sample (0: config).")] = 0,
    max_per_instruction: Annotated[
        int, typer.Option(help="At most this many kept examples per instruction, a seeded sample (0: config).")
    ] = 0,
    fresh: Annotated[bool, typer.Option("--fresh", help="Start the run over (drop checkpoints).")] = False,
    serve: Annotated[
        bool,
        typer.Option(
            help="Convert the trained model to GGUF for local/NAME (and the base model for local/base-QUANT)."
        ),
    ] = True,
    quant: Annotated[
        str,
        typer.Option(
            help="llama.cpp quantization of the served trained model and base "
            "(Q4_1, the bundled model's, erases the LoRA change)."
        ),
    ] = SERVE_QUANT,
) -> None:
    """Fine-tune the base model with a LoRA adapter on the kept examples (TRL SFT, loss on the replies)."""
    from lbi.errors import check_choice
    from lbi.models.convert import check_quant
    from lbi.store.committee import check_policy
    from lbi.synth.backward import MODES
    from lbi.train.sft import train

    proj = open_project(project)
    quant = check_quant(quant)
    if per:
        check_choice("record unit (--per)", per, ("step", "example"))
    if policy:
        check_policy(policy)
    with progress_bar(f"train {name}") as bar:
        report = train(
            proj,
            name,
            fresh=fresh,
            progress=bar,
            publish=serve,
            quant=quant,
            base_model=base_model or None,
            per=per or None,
            policy=policy or None,
            judges=judge or None,
            modes=[check_choice("backward mode (--mode)", m, MODES) for m in mode] if mode else None,
            epochs=epochs or None,
            learning_rate=learning_rate or None,
            max_seq_len=max_seq_len or None,
            max_records=max_records or None,
            max_per_instruction=max_per_instruction or None,
        )
    resumed = f" (resumed from step {report.resumed_from})" if report.resumed_from is not None else ""
    skipped = f"; {report.too_long} records longer than max_seq_len left out" if report.too_long else ""
    console.print(
        f"{report.examples} examples → {report.records} records{skipped}; {report.steps} steps{resumed}, "
        f"final loss {report.final_loss if report.final_loss is None else round(report.final_loss, 4)}; "
        f"{report.tokens} tokens in {report.wall_s:.0f}s ({report.tokens_per_s:.0f} tokens/s), "
        f"peak memory {report.peak_rss_mb:.0f} MB"
    )
    console.print(
        f"adapter: {report.out / 'adapter'}; merged model: {report.out / 'hf'}"
        + (
            f'; serve it ({quant}) with models.agent = "{report.model}" or `lbi eval --model {report.model}`'
            if report.model
            else ""
        ),
        markup=False,
    )
    if report.base:
        console.print(
            f"the base model at the same precision: {report.base} (compare with `lbi eval --model {report.base}`)",
            markup=False,
        )
