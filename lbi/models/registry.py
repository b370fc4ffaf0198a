"""Model strings → model classes: the one place that tells the kinds of model apart.

The provider part of a model string (before the first `/`) picks the class: `local/...` is the embedded
model, `fake` and `fake/...` the deterministic test model; every other string is litellm's to resolve
(`openai/gpt-4o-mini`, `ollama/llama3.1`, ...), and one it does not know fails on the first call with
`UnknownModelError`, naming the string.
"""

from __future__ import annotations

from lbi.config import Config
from lbi.models.base import Model
from lbi.models.fake import FakeModel
from lbi.models.litellm_model import LitellmModel
from lbi.models.local import LocalModel

MODEL_CLASSES: dict[str, type[LitellmModel]] = {
    "local": LocalModel,
    "fake": FakeModel,
}
"""Provider prefix → class, for the kinds litellm does not reach by the model string alone."""


def model_class(name: str) -> type[LitellmModel]:
    """The class that serves the model string `name`."""
    return MODEL_CLASSES.get(name.split("/", 1)[0], LitellmModel)


def get_model(name: str, config: Config) -> Model:
    """A model for the string `name`, configured from `config`."""
    return model_class(name)(name, config)
