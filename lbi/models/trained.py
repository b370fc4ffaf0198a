"""Where a trained model lives in a project, and how it becomes the model `local/NAME`.

`lbi train --name NAME` writes, in project directory P, `P/models/NAME/hf/` (the merged Hugging Face model)
and `P/models/NAME/adapter/` (the LoRA adapter, for vLLM's LoRA serving on GPU machines); `publish` converts
`hf/` to `P/models/NAME/model.gguf` (at `SERVE_QUANT`, Q8_0, unless told otherwise), which the embedded llama.cpp
server then serves beside the bundled model as `local/NAME` (`lbi.models.local`). The base model a run starts
from is served the same way, at the same precision, as `local/base-<quant>` (`P/models/base-q8_0/model.gguf`,
made by `lbi.train.base.publish_base`, with `source.json` saying which base and quantization it holds): the
arm to compare a trained model with. This module is the one place that knows these paths.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from lbi.errors import UnknownChoiceError
from lbi.models.convert import SERVE_QUANT, check_quant, to_gguf
from lbi.models.local_llm import ALIAS, LocalModelError

MODELS_DIR = "models"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
BASE_PREFIX = "base-"
"""`local/base-<quant>` is the base model served at that precision (`base_name`); no training run takes such a name."""


class TrainedModelError(LocalModelError):
    """A trained model's name is unusable or its files are missing; the message says what to do."""


@dataclass(frozen=True)
class TrainedModel:
    """The files of the model trained as `name` in `project_dir`."""

    project_dir: Path
    name: str

    @property
    def dir(self) -> Path:
        return self.project_dir / MODELS_DIR / self.name

    @property
    def hf_dir(self) -> Path:
        """The merged Hugging Face model (config.json, model.safetensors, tokenizer files, chat template)."""
        return self.dir / "hf"

    @property
    def adapter_dir(self) -> Path:
        """The peft LoRA adapter over the base model."""
        return self.dir / "adapter"

    @property
    def gguf(self) -> Path:
        """What the embedded llama.cpp server serves: `hf/` converted and quantized (`SERVE_QUANT` by default)."""
        return self.dir / "model.gguf"

    @property
    def source_file(self) -> Path:
        """For the served base (`base-<quant>`): which base model and quantization its GGUF holds."""
        return self.dir / "source.json"

    @property
    def model_string(self) -> str:
        return f"local/{self.name}"

    def source(self) -> dict[str, str] | None:
        """What `source_file` records (None when the base was never published here)."""
        if not self.source_file.is_file() or not self.gguf.is_file():
            return None
        return json.loads(self.source_file.read_text(encoding="utf-8"))

    def served_gguf(self) -> Path:
        """The GGUF to serve, or `TrainedModelError` saying how to make it."""
        if self.gguf.is_file():
            return self.gguf
        if is_base_name(self.name):
            quant = self.name.removeprefix(BASE_PREFIX).upper()
            raise TrainedModelError(
                f"the base model is not published at {quant} in {self.project_dir}: run "
                f"`lbi llm publish-base --quant {quant} -p {self.project_dir}` (`lbi train` "
                f"publishes it at {SERVE_QUANT})."
            )
        if self.hf_dir.is_dir():
            raise TrainedModelError(
                f"trained model {self.name} in {self.project_dir} has no {self.gguf.name} yet: "
                f"run `lbi llm publish {self.name} -p {self.project_dir}`."
            )
        raise TrainedModelError(
            f"no trained model {self.name} in {self.project_dir}: run `lbi train --name {self.name}`."
        )

    def alias(self) -> str:
        """The name the server serves it under: the model's name and a digest of its GGUF's path and time, so
        a running server never mistakes a model of the same name from another project, or one retrained
        under its old name, for the one it loaded."""
        gguf = self.served_gguf().resolve()
        digest = hashlib.sha256(f"{gguf}:{gguf.stat().st_mtime_ns}".encode()).hexdigest()[:10]
        return f"{self.name}@{digest}"


def trained_model(project_dir: Path, name: str) -> TrainedModel:
    """The model trained as `name` in `project_dir` (its files need not exist yet)."""
    if not NAME.fullmatch(name) or name == ALIAS:
        raise TrainedModelError(
            f"{name!r} cannot name a trained model: use up to 64 letters, digits, '.', '_' "
            f"and '-', starting with a letter or digit, and not {ALIAS!r} (the bundled model)."
        )
    return TrainedModel(Path(project_dir).resolve(), name)


def is_base_name(name: str) -> bool:
    """Is `name` the served base's name (`base-q8_0`, `base-f16`, ...)?"""
    return name.startswith(BASE_PREFIX) and _known_quant(name.removeprefix(BASE_PREFIX))


def _known_quant(quant: str) -> bool:
    try:
        check_quant(quant)
    except UnknownChoiceError:
        return False
    return True


def base_name(quant: str = SERVE_QUANT) -> str:
    """The name the base model is served under at `quant`: `local/base-q8_0` is `base_name("Q8_0")`."""
    return BASE_PREFIX + check_quant(quant).lower()


def publish(project_dir: Path, name: str, quant: str = SERVE_QUANT) -> str:
    """Convert the trained model's `hf/` to its `model.gguf` and return its model string, `local/NAME`."""
    model = trained_model(project_dir, name)
    if is_base_name(name):
        raise TrainedModelError(
            f"{name} is the served base model: publish it with `lbi llm publish-base --quant "
            f"{name.removeprefix(BASE_PREFIX).upper()}`."
        )
    if not model.hf_dir.is_dir():
        raise TrainedModelError(
            f"no trained model {name} in {model.project_dir} ({model.hf_dir} is missing): "
            f"run `lbi train --name {name}`."
        )
    to_gguf(model.hf_dir, model.gguf, quant)
    return model.model_string
