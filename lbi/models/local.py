"""The embedded default model, `local/smollm2`, as a model: SmolLM2 behind the llama.cpp server that
`lbi.models.local_llm` starts on 127.0.0.1.

`LocalModel` reaches the server through litellm (`openai/<alias>` with the server's `api_base`), starting
it on the first call and health-checking it at most every `RECHECK_S` seconds (and before the attempt after
one that failed to connect: the server is started again if it went away). Its tokens are counted by the
server's own tokenizer over SmolLM2's chat template, its context window is `local_model.n_ctx`, and it asks
for JSON in llama.cpp's `json_object` + `schema` form.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel

from lbi.config import Config
from lbi.errors import ModelError
from lbi.models import local_llm
from lbi.models.litellm_model import LitellmModel

RECHECK_S = 30.0


def chat_prompt(messages: list[dict[str, Any]]) -> str:
    """The text the model reads for `messages`: SmolLM2's chat template, as the server applies it."""
    turns = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return f"{turns}<|im_start|>assistant\n"


class LocalModel(LitellmModel):
    """The embedded llama.cpp server's model (any `local/...` string names it)."""

    def __init__(self, name: str, config: Config) -> None:
        super().__init__(name, config)
        self._url = ""
        self._checked = 0.0

    def url(self) -> str:
        """The server's URL, health-checked (and the server started) at most every RECHECK_S seconds."""
        if not self._url or time.monotonic() - self._checked > RECHECK_S:
            self._url = local_llm.ensure_running(self.config.local_model).url
            self._checked = time.monotonic()
        return self._url

    def call_args(self, messages: list[dict[str, Any]], schema: type[BaseModel] | None,
                  purpose: str | None) -> dict[str, Any]:
        try:  # the server is (re)started here if it went away since the last attempt
            url = self.url()
        except local_llm.LocalModelError as exc:
            raise ModelError(str(exc)) from exc
        return {"model": f"openai/{local_llm.ALIAS}", "api_key": "local", "api_base": url}

    def unreachable(self) -> None:
        self._url = ""  # health-check (and restart) before the next attempt

    def response_format(self, schema: type[BaseModel]) -> dict[str, Any]:
        return {"type": "json_object", "schema": schema.model_json_schema()}

    def count_tokens(self, messages: list[dict[str, Any]]) -> int:
        return local_llm.count_tokens(self.url(), chat_prompt(messages))

    def context_window(self) -> int | None:
        return self.config.local_model.n_ctx
