"""Every model call in lbi goes through here: `LLM`, the wrapper over the model classes.

`LLM.complete` resolves the model for a role from `lbi.toml` (and its class through
`lbi.models.registry`), asks for JSON-schema output when given a pydantic model (validating the reply,
and asking again a bounded number of times when it does not parse), retries transient provider errors
with backoff (never auth or bad-request errors), caches replies on disk keyed by (model, messages,
params), and logs one usage record per call (role, purpose, model, tokens, cost, latency, cache hit) to
the store. What differs between kinds of model (how a call reaches it, its tokens, its context window)
is the model object's. API keys come from the environment only; nothing stored or cached contains them.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any, TypeVar

import diskcache
from pydantic import BaseModel, ValidationError
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from lbi.config import Config
from lbi.errors import (  # callers and tests take the model errors from here too
    ContextWindowError,
    ModelAuthError,
    ModelError,
    OutputParseError,
    UnknownModelError,
)
from lbi.models.base import Completion, Model, TransientModelError
from lbi.models.registry import get_model
from lbi.models.schema import parse_json_reply, with_schema_hint
from lbi.secrets import redact
from lbi.store.db import Store

__all__ = [
    "LLM",
    "Completion",
    "parse_json_reply",
    "ContextWindowError",
    "ModelAuthError",
    "ModelError",
    "OutputParseError",
    "UnknownModelError",
]

T = TypeVar("T", bound=BaseModel)


class LLM:
    """The one seam to models. One instance per project (or per worker process)."""

    def __init__(
        self,
        config: Config | None = None,
        *,
        store: Store | None = None,
        cache_dir: Path | None = None,
        run_id: int | None = None,
    ) -> None:
        self.config = config or Config()
        self.store = store
        self.run_id = run_id
        self.cache = diskcache.Cache(str(cache_dir)) if cache_dir and self.config.llm.cache else None
        self._models: dict[str, Model] = {}

    def model_for(self, role: str) -> str:
        return self.config.models.for_role(role)

    def model(self, name: str) -> Model:
        """The model object for a model string (one per string and wrapper: it may hold state, such as
        when the embedded server was last health-checked)."""
        if name not in self._models:
            self._models[name] = get_model(name, self.config)
        return self._models[name]

    # -- public API --------------------------------------------------------------------
    def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        role: str,
        purpose: str | None = None,
        schema: type[T] | None = None,
        model: str | None = None,
        parse_retries: int | None = None,
        hint: bool = True,
        **params: Any,
    ) -> Completion:
        """One chat completion. With `schema`, `Completion.parsed` holds the validated object; a reply
        that does not parse is asked again `parse_retries` times (default: `llm.parse_retries`). The reply's
        shape is added to the system message unless `hint` is False (the messages already say it)."""
        model = model or self.model_for(role)
        params = {"temperature": self.config.llm.temperature, "max_tokens": self.config.llm.max_tokens, **params}
        convo = with_schema_hint(messages, schema) if schema and hint else list(messages)
        retries = self.config.llm.parse_retries if parse_retries is None else parse_retries
        last = ""
        for attempt in range(1, retries + 2):
            key = self._cache_key(model, convo, params, schema)
            result = self._cached_call(key, model, convo, params, schema, role=role, purpose=purpose)
            result.attempts = attempt
            try:
                if schema is not None:
                    result.parsed = parse_json_reply(result.text, schema)
                self._remember(key, result)  # only replies that parsed are cached
                return result
            except ValidationError as exc:
                last = result.text
                problem = redact(str(exc).splitlines()[0] if str(exc) else "invalid JSON")
                convo = [
                    *convo,
                    {"role": "assistant", "content": result.text},
                    {
                        "role": "user",
                        "content": f"That reply was not valid ({problem}). Reply again with the JSON object only.",
                    },
                ]
        assert schema is not None  # without a schema the first reply is returned
        raise OutputParseError(
            f"{model} gave no reply matching {schema.__name__} after {retries + 1} attempts", raw=redact(last)
        )

    def context_window(self, role: str, model: str | None = None) -> int | None:
        """Tokens one call to the role's model holds, prompt and reply together; None where unknown.

        `llm.context_window` when set, else the model's own (the embedded server's `local_model.n_ctx`,
        litellm's model list for a provider's model)."""
        if self.config.llm.context_window:
            return self.config.llm.context_window
        return self.model(model or self.model_for(role)).context_window()

    def count_tokens(
        self,
        messages: list[dict[str, Any]],
        *,
        role: str,
        schema: type[BaseModel] | None = None,
        model: str | None = None,
    ) -> int:
        """Prompt tokens of `messages` as `complete` sends them (with the schema hint), counted the model's
        way (the embedded model's server counts them with its own tokenizer)."""
        convo = with_schema_hint(messages, schema) if schema else list(messages)
        return self.model(model or self.model_for(role)).count_tokens(convo)

    def record_failure(self, stage: str, exc: OutputParseError, item: str | None = None) -> None:
        """Keep a reply that never parsed (with its raw text) when the caller carries on without it."""
        if self.store is not None:
            self.store.add_failure(stage, str(exc), item=item, raw=exc.raw, run_id=self.run_id)

    def ask(self, prompt: str, *, role: str = "agent", **kwargs: Any) -> Completion:
        return self.complete([{"role": "user", "content": prompt}], role=role, **kwargs)

    # -- internals ---------------------------------------------------------------------
    def _cache_key(
        self, model: str, messages: list[dict[str, Any]], params: dict[str, Any], schema: type[BaseModel] | None
    ) -> str:
        blob = json.dumps(
            {
                "model": self.model(model).cache_name(),
                "messages": messages,
                "params": params,
                "schema": schema.model_json_schema() if schema else None,
            },
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(blob.encode()).hexdigest()

    def _remember(self, key: str, result: Completion) -> None:
        if self.cache is not None and not result.cache_hit:
            self.cache.set(
                key,
                {
                    "text": redact(result.text),
                    "model": result.model,
                    "prompt_tokens": result.prompt_tokens,
                    "completion_tokens": result.completion_tokens,
                },
            )

    def _cached_call(
        self,
        key: str,
        model: str,
        messages: list[dict[str, Any]],
        params: dict[str, Any],
        schema: type[BaseModel] | None,
        *,
        role: str,
        purpose: str | None,
    ) -> Completion:
        if self.cache is not None and (hit := self.cache.get(key)) is not None:
            result = Completion(**{**hit, "cache_hit": True, "latency_ms": 0.0, "cost": 0.0})
            self._log(result, role=role, purpose=purpose)
            return result
        started = time.perf_counter()
        try:
            result = self._call(model, messages, params, schema, purpose)
        except ModelError as exc:
            self._log(
                Completion(text="", model=model, latency_ms=(time.perf_counter() - started) * 1000),
                role=role,
                purpose=purpose,
                error=str(exc),
            )
            raise
        result.latency_ms = (time.perf_counter() - started) * 1000
        self._log(result, role=role, purpose=purpose)
        return result

    def _log(self, result: Completion, *, role: str, purpose: str | None, error: str | None = None) -> None:
        if self.store is None:
            return
        self.store.log_llm_call(
            run_id=self.run_id,
            role=role,
            purpose=purpose,
            model=result.model,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            cost=result.cost,
            latency_ms=result.latency_ms,
            cache_hit=int(result.cache_hit),
            ok=int(error is None),
            error=error,
        )

    def _call(
        self,
        model: str,
        messages: list[dict[str, Any]],
        params: dict[str, Any],
        schema: type[BaseModel] | None,
        purpose: str | None,
    ) -> Completion:
        """The model's answer, transient failures tried again with backoff (`llm.max_retries` times)."""
        attempt = retry(
            retry=retry_if_exception_type(TransientModelError),
            reraise=True,
            stop=stop_after_attempt(self.config.llm.max_retries + 1),
            wait=wait_exponential(multiplier=0.5, max=20),
        )(self.model(model).complete)
        return attempt(messages, params, schema=schema, purpose=purpose, timeout=self.config.llm.timeout_s)
