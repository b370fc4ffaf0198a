"""`lbi llm ...`: the model layer and the embedded local model server."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from lbi.cli.common import ProjectOpt, console, err
from lbi.config import ROLES, Config, ConfigError, load_config
from lbi.errors import check_choice
from lbi.models import local_llm
from lbi.models.convert import SERVE_QUANT, check_quant
from lbi.models.trained import publish, trained_model
from lbi.project import open_project

app = typer.Typer(help="The model layer and the embedded local model.", no_args_is_help=True)


def _config_or_default(path: Path) -> Config:
    try:
        return load_config(path)
    except ConfigError:
        if (path / "lbi.toml").exists():
            raise
        return Config()


@app.command("serve")
def llm_serve(
    project: ProjectOpt = Path("."),
    foreground: Annotated[bool, typer.Option(help="Stay attached; stop the server on Ctrl-C.")] = False,
) -> None:
    """Start (or reuse) the embedded model server on 127.0.0.1."""
    cfg = _config_or_default(project).local_model
    state = local_llm.ensure_running(cfg)
    console.print(f"local models {', '.join(state.models)} at {state.url} (pid {state.pid}, {state.threads_text})")
    if foreground:
        try:
            typer.echo("serving; Ctrl-C stops it")
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            local_llm.stop(cfg)


@app.command("status")
def llm_status(project: ProjectOpt = Path(".")) -> None:
    """Is the embedded model server up, and which models does it serve?"""
    cfg = _config_or_default(project).local_model
    state = local_llm.status(cfg)
    console.print(
        json.dumps(
            {
                "running": state.running,
                "url": state.url,
                "pid": state.pid,
                "model": state.model,
                "models": state.models,
                "threads": state.threads,
                "threads_per_call": state.per_call,
                "detail": state.detail,
            }
        )
    )
    raise typer.Exit(0 if state.running else 1)


@app.command("stop")
def llm_stop(project: ProjectOpt = Path(".")) -> None:
    """Stop the embedded model server lbi started."""
    cfg = _config_or_default(project).local_model
    console.print("stopped" if local_llm.stop(cfg) else "was not running")


@app.command("publish")
def llm_publish(
    name: Annotated[str, typer.Argument(help="The trained model's name (P/models/NAME).")],
    project: ProjectOpt = Path("."),
    quant: Annotated[
        str, typer.Option(help="llama.cpp quantization (Q4_1, the bundled model's, erases a LoRA change).")
    ] = SERVE_QUANT,
) -> None:
    """Convert a trained model's merged Hugging Face model (P/models/NAME/hf) to the GGUF the embedded
    server serves as `local/NAME` (`lbi train` does this when it ends)."""
    started = time.perf_counter()
    quant = check_quant(quant)
    model = publish(open_project(project).dir, name, quant)
    console.print(f"{model}: {trained_model(project, name).gguf} ({quant}, {time.perf_counter() - started:.0f}s)")


@app.command("publish-base")
def llm_publish_base(
    project: ProjectOpt = Path("."),
    quant: Annotated[
        str, typer.Option(help="llama.cpp quantization: the trained models' (lbi train --quant).")
    ] = SERVE_QUANT,
) -> None:
    """Serve the base model training starts from (train.base_model, else the embedded model) at the precision
    trained models are served at, as `local/base-<quant>`: the base arm of a base vs trained comparison
    (`lbi train` does this when it ends)."""
    from lbi.train.base import publish_base

    started = time.perf_counter()
    quant = check_quant(quant)
    proj = open_project(project)
    model = publish_base(proj.dir, proj.config, quant)
    gguf = trained_model(proj.dir, model.removeprefix("local/")).gguf
    console.print(f"{model}: {gguf} ({quant}, {time.perf_counter() - started:.0f}s)", markup=False)


@app.command("ask")
def llm_ask(
    prompt: Annotated[str, typer.Argument(help="What to ask.")],
    project: ProjectOpt = Path("."),
    role: Annotated[str, typer.Option(help="Role whose model answers.")] = "agent",
    model: Annotated[str, typer.Option(help="Model string (overrides the role's).")] = "",
    max_tokens: Annotated[int, typer.Option(help="Completion token limit.")] = 256,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Bypass the reply cache.")] = False,
) -> None:
    """Ask a model one question through lbi's model layer; prints the reply and tokens/s."""
    from lbi.models.llm import LLM

    check_choice("role", role, ROLES)
    if (project / "lbi.toml").exists():
        proj = open_project(project)
        if no_cache:
            proj.config.llm.cache = False
        client = proj.llm()
    else:
        config = Config()
        config.llm.cache = False
        client = LLM(config)
    result = client.ask(prompt, role=role, model=model or None, max_tokens=max_tokens)
    typer.echo(result.text)
    hit = " \\[cache hit]" if result.cache_hit else ""
    err.print(
        f"[dim]{result.model}: {result.prompt_tokens} prompt + {result.completion_tokens} completion tokens "
        f"in {result.latency_ms / 1000:.2f}s ({result.tokens_per_s:.1f} tokens/s)"
        f"{hit}[/]"
    )
