"""Every model call in lbi goes through here, on top of litellm.

`LLM.complete` resolves the model for a role from `lbi.toml`, asks for JSON-schema output when
given a pydantic model (validating the reply, and asking again a bounded number of times when
it does not parse), retries transient provider errors with backoff (never auth or bad-request
errors), caches replies on disk keyed by (model, messages, params), and logs one usage record
per call (role, purpose, model, tokens, cost, latency, cache hit) to the store.
API keys come from the environment only; nothing that is stored or cached contains them.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import diskcache  # noqa: E402
import litellm  # noqa: E402
from pydantic import BaseModel, ValidationError  # noqa: E402
from tenacity import (  # noqa: E402
    retry,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from lbi.models import fake_llm, local_llm  # noqa: E402
from lbi.config import Config  # noqa: E402
from lbi.errors import (  # noqa: E402
    ContextWindowError,
    ModelAuthError,
    ModelError,
    OutputParseError,
    UnknownModelError,
)
from lbi.secrets import redact  # noqa: E402
from lbi.store.db import Store  # noqa: E402

litellm.suppress_debug_info = True
litellm.telemetry = False

T = TypeVar("T", bound=BaseModel)
LOCAL_RECHECK_S = 30.0
TRANSIENT = (
    litellm.exceptions.RateLimitError,
    litellm.exceptions.APIConnectionError,
    litellm.exceptions.Timeout,
    litellm.exceptions.InternalServerError,
    litellm.exceptions.ServiceUnavailableError,
)


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


def _schema_format(schema: type[BaseModel], model: str) -> dict[str, Any]:
    """`response_format` for a schema; llama.cpp's server takes its own `json_object` + `schema` form."""
    if model.startswith("local/"):
        return {"type": "json_object", "schema": schema.model_json_schema()}
    return {"type": "json_schema",
            "json_schema": {"name": schema.__name__, "schema": schema.model_json_schema(), "strict": False}}


def skeleton(schema: dict[str, Any], defs: dict[str, Any] | None = None) -> Any:
    """An example value of a JSON schema's shape (field names, placeholder values), for prompts.

    Small models copy whatever text a prompt shows; a skeleton shows the shape without
    descriptions they would echo back as content.
    """
    defs = defs if defs is not None else schema.get("$defs", {})
    if schema.get("examples"):
        return schema["examples"][0]
    if "$ref" in schema:
        return skeleton(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if "anyOf" in schema:
        return skeleton(next(s for s in schema["anyOf"] if s.get("type") != "null"), defs)
    kind = schema.get("type")
    if kind == "object":
        return {key: skeleton(sub, defs) for key, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [skeleton(schema.get("items", {}), defs)]
    return {"integer": 0, "number": 0.0, "boolean": True}.get(kind or "string", "...")


def _with_schema_hint(messages: list[dict[str, Any]], schema: type[BaseModel]) -> list[dict[str, Any]]:
    hint = ("Reply with one JSON object only, no prose, shaped like this: "
            + json.dumps(skeleton(schema.model_json_schema())))
    if messages and messages[0].get("role") == "system":
        return [{**messages[0], "content": f"{messages[0]['content']}\n\n{hint}"}, *messages[1:]]
    return [{"role": "system", "content": hint}, *messages]


def parse_json_reply(text: str, schema: type[T]) -> T:
    """Validate a reply against `schema`, tolerating code fences and prose around one JSON object."""
    body = text.strip()
    if body.startswith("```"):
        body = body.strip("`")
        body = body[body.find("\n") + 1:] if "\n" in body else body
    start, end = body.find("{"), body.rfind("}")
    if start != -1 and end > start:
        body = body[start:end + 1]
    return schema.model_validate_json(body)


class LLM:
    """The one seam to models. One instance per project (or per worker process)."""

    def __init__(self, config: Config | None = None, *, store: Store | None = None,
                 cache_dir: Path | None = None, run_id: int | None = None) -> None:
        self.config = config or Config()
        self.store = store
        self.run_id = run_id
        self.cache = diskcache.Cache(str(cache_dir)) if cache_dir and self.config.llm.cache else None
        self._local: tuple[str, float] = ("", 0.0)

    def model_for(self, role: str) -> str:
        return self.config.models.for_role(role)

    # -- public API --------------------------------------------------------------------
    def complete(self, messages: list[dict[str, Any]], *, role: str, purpose: str | None = None,
                 schema: type[T] | None = None, model: str | None = None, parse_retries: int | None = None,
                 **params: Any) -> Completion:
        """One chat completion. With `schema`, `Completion.parsed` holds the validated object; a reply
        that does not parse is asked again `parse_retries` times (default: `llm.parse_retries`)."""
        model = model or self.model_for(role)
        params = {"temperature": self.config.llm.temperature, "max_tokens": self.config.llm.max_tokens, **params}
        convo = _with_schema_hint(messages, schema) if schema else list(messages)
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
                convo = [*convo, {"role": "assistant", "content": result.text},
                         {"role": "user", "content": f"That reply was not valid ({problem}). "
                                                     "Reply again with the JSON object only."}]
        raise OutputParseError(
            f"{model} gave no reply matching {schema.__name__} after {retries + 1} attempts", raw=redact(last))

    def context_window(self, role: str, model: str | None = None) -> int | None:
        """Tokens one call to the role's model holds, prompt and reply together; None where unknown.

        `llm.context_window` when set, the embedded server's `local_model.n_ctx`, else litellm's model list."""
        model = model or self.model_for(role)
        if self.config.llm.context_window:
            return self.config.llm.context_window
        if model.startswith("local/"):
            return self.config.local_model.n_ctx
        if model == "fake" or model.startswith("fake/"):
            return None
        try:
            info = litellm.get_model_info(model)
        except litellm.exceptions.ModelNotMappedError:
            return None
        return info.get("max_input_tokens") or info.get("max_tokens")

    def count_tokens(self, messages: list[dict[str, Any]], *, role: str, schema: type[BaseModel] | None = None,
                     model: str | None = None) -> int:
        """Prompt tokens of `messages` as `complete` sends them (with the schema hint). The embedded model's
        server counts them with its own tokenizer; other models go through litellm's counter."""
        model = model or self.model_for(role)
        convo = _with_schema_hint(messages, schema) if schema else list(messages)
        if model.startswith("local/"):
            turns = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in convo)
            text = f"{turns}<|im_start|>assistant\n"  # SmolLM2's chat template, as the server applies it
            return local_llm.count_tokens(self._local_url(), text)
        return litellm.token_counter(model="gpt-4o" if model.startswith("fake") else model, messages=convo)

    def record_failure(self, stage: str, exc: OutputParseError, item: str | None = None) -> None:
        """Keep a reply that never parsed (with its raw text) when the caller carries on without it."""
        if self.store is not None:
            self.store.add_failure(stage, str(exc), item=item, raw=exc.raw, run_id=self.run_id)

    def ask(self, prompt: str, *, role: str = "agent", **kwargs: Any) -> Completion:
        return self.complete([{"role": "user", "content": prompt}], role=role, **kwargs)

    # -- internals ---------------------------------------------------------------------
    def _cache_key(self, model: str, messages: list[dict[str, Any]], params: dict[str, Any],
                   schema: type[BaseModel] | None) -> str:
        blob = json.dumps({"model": model, "messages": messages, "params": params,
                           "schema": schema.model_json_schema() if schema else None},
                          sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    def _remember(self, key: str, result: Completion) -> None:
        if self.cache is not None and not result.cache_hit:
            self.cache.set(key, {"text": redact(result.text), "model": result.model,
                                 "prompt_tokens": result.prompt_tokens,
                                 "completion_tokens": result.completion_tokens})

    def _cached_call(self, key: str, model: str, messages: list[dict[str, Any]], params: dict[str, Any],
                     schema: type[BaseModel] | None, *, role: str, purpose: str | None) -> Completion:
        if self.cache is not None and (hit := self.cache.get(key)) is not None:
            result = Completion(**{**hit, "cache_hit": True, "latency_ms": 0.0, "cost": 0.0})
            self._log(result, role=role, purpose=purpose)
            return result
        started = time.perf_counter()
        try:
            result = self._call(model, messages, params, schema, purpose)
        except ModelError as exc:
            self._log(Completion(text="", model=model, latency_ms=(time.perf_counter() - started) * 1000),
                      role=role, purpose=purpose, error=str(exc))
            raise
        result.latency_ms = (time.perf_counter() - started) * 1000
        self._log(result, role=role, purpose=purpose)
        return result

    def _log(self, result: Completion, *, role: str, purpose: str | None, error: str | None = None) -> None:
        if self.store is None:
            return
        self.store.log_llm_call(run_id=self.run_id, role=role, purpose=purpose, model=result.model,
                                prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens,
                                cost=result.cost, latency_ms=result.latency_ms, cache_hit=int(result.cache_hit),
                                ok=int(error is None), error=error)

    def _litellm_args(self, model: str, messages: list[dict[str, Any]], schema: type[BaseModel] | None,
                      purpose: str | None) -> dict[str, Any]:
        if model == "fake" or model.startswith("fake/"):
            schema_json = schema.model_json_schema() if schema else None
            text = fake_llm.reply(messages, schema_json, purpose)
            # litellm takes an empty mock_response for "no mock" and would call the real provider
            mock = text or litellm.ModelResponse(
                model="fake", choices=[{"index": 0, "finish_reason": "stop",
                                        "message": {"role": "assistant", "content": ""}}],
                usage={"prompt_tokens": 10, "completion_tokens": 0, "total_tokens": 10})
            return {"model": "openai/fake", "api_key": "fake", "mock_response": mock}
        if model.startswith("local/"):  # api_base is filled in per attempt (see _retrying_completion)
            return {"model": f"openai/{local_llm.ALIAS}", "api_key": "local"}
        args: dict[str, Any] = {"model": model}
        if self.config.models.api_base:
            args["api_base"] = self.config.models.api_base
        return args

    def _local_url(self) -> str:
        """The embedded server's URL, health-checked (and started) at most every LOCAL_RECHECK_S seconds."""
        url, checked = self._local
        if not url or time.monotonic() - checked > LOCAL_RECHECK_S:
            url = local_llm.ensure_running(self.config.local_model).url
            self._local = (url, time.monotonic())
        return url

    def _call(self, model: str, messages: list[dict[str, Any]], params: dict[str, Any],
              schema: type[BaseModel] | None, purpose: str | None) -> Completion:
        args = self._litellm_args(model, messages, schema, purpose)
        if schema is not None:
            args["response_format"] = _schema_format(schema, model)
        try:
            response = self._retrying_completion(messages=messages, timeout=self.config.llm.timeout_s,
                                                 drop_params=True, **args, **params)
        except litellm.exceptions.AuthenticationError as exc:
            raise ModelAuthError(redact(f"{model}: the provider refused the API key ({exc.message}); "
                                        "set the provider's key variable (e.g. OPENAI_API_KEY).")) from exc
        except litellm.exceptions.ContextWindowExceededError as exc:
            raise ContextWindowError(redact(f"{model}: prompt too long for the context window: {exc.message}")) from exc
        except litellm.exceptions.BadRequestError as exc:
            text = redact(str(exc.message))
            if "LLM Provider NOT provided" in text:
                raise UnknownModelError(
                    f"unknown model string {model!r}: use a litellm model string such as "
                    "'openai/gpt-4o-mini', 'anthropic/claude-3-5-haiku-latest', 'ollama/llama3.1' "
                    "or 'local/smollm2' in [models] of lbi.toml.") from exc
            raise ModelError(f"{model}: bad request: {text}") from exc
        except (*TRANSIENT, litellm.exceptions.APIError, litellm.exceptions.NotFoundError) as exc:
            raise ModelError(redact(f"{model}: {type(exc).__name__}: {getattr(exc, 'message', exc)}")) from exc
        usage = getattr(response, "usage", None)
        return Completion(
            text=response.choices[0].message.content or "",
            model=model,
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            cost=_cost(response),
        )

    def _retrying_completion(self, **kwargs: Any) -> Any:
        @retry(retry=retry_if_exception_type(TRANSIENT), reraise=True,
               stop=stop_after_attempt(self.config.llm.max_retries + 1),
               wait=wait_exponential(multiplier=0.5, max=20))
        def call() -> Any:
            local = kwargs.get("api_key") == "local"
            try:  # the embedded server is (re)started here if it went away since the last attempt
                args = {**kwargs, "api_base": self._local_url()} if local else kwargs
            except local_llm.LocalModelError as exc:
                raise ModelError(str(exc)) from exc
            try:
                return litellm.completion(**args)
            except TRANSIENT:  # litellm reports a refused connection as a 500 too
                if local:
                    self._local = ("", 0.0)  # health-check (and restart) before the next attempt
                raise

        return call()


def _cost(response: Any) -> float | None:
    """Cost in USD where litellm's price list knows the model, else None."""
    try:
        return float(litellm.completion_cost(completion_response=response))
    except (litellm.exceptions.NotFoundError, ValueError, KeyError, TypeError):
        return None
    except Exception as exc:  # litellm raises bare Exception for unmapped models
        if "model" in str(exc).lower() or "cost" in str(exc).lower():
            return None
        raise
