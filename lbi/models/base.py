"""What a model is to the wrapper (`lbi.models.llm.LLM`): the `Model` protocol, the `Completion` one call
returns, and the error that says a call may succeed if tried again.

A model answers one attempt of a chat completion, counts the tokens of a conversation as it would bill
them, knows its context window and the name its replies are cached under. Everything else (cache, parse
and transient retries, usage log) is the wrapper's and the same for every model. `lbi.models.registry`
maps a model string to its class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel

from lbi.errors import ModelError


@dataclass
class Completion:
    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    latency_ms: float = 0.0
    cache_hit: bool = False
    parsed: Any = None
    attempts: int = 1

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / (self.latency_ms / 1000) if self.latency_ms else 0.0


class TransientModelError(ModelError):
    """The provider was unreachable, overloaded or rate-limited: the wrapper tries again with backoff, and
    raises this (a `ModelError`) when its retries are used up."""


class Model(Protocol):
    """One kind of model: the model string it was made from (`name`) and the things that differ
    between kinds."""

    name: str

    def complete(
        self,
        messages: list[dict[str, Any]],
        params: dict[str, Any],
        *,
        schema: type[BaseModel] | None,
        purpose: str | None,
        timeout: float,
    ) -> Completion:
        """One attempt at a chat completion (`params`: temperature, max_tokens, ...), asking for JSON output
        shaped by `schema` where given. Raises `TransientModelError` where another attempt may succeed,
        another `ModelError` where it would not."""
        ...

    def count_tokens(self, messages: list[dict[str, Any]]) -> int:
        """Prompt tokens of `messages` as this model counts them."""
        ...

    def cache_name(self) -> str:
        """What the reply cache knows it by: `name`, plus the weights' version where they change under one name."""
        ...

    def context_window(self) -> int | None:
        """Tokens one call holds, prompt and reply together; None where unknown."""
        ...
