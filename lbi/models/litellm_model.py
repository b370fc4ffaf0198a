"""A model any provider litellm knows serves (OpenAI, Anthropic, Gemini, Ollama, vLLM, an OpenAI-compatible
server), named by litellm's model string, e.g. `openai/gpt-4o-mini`; `models.api_base` in `lbi.toml` points it
at a server of one's own.

`LitellmModel` makes the call and turns litellm's exceptions into lbi's typed errors: refused keys, prompts
too long and unknown model strings are not retried; a provider that is unreachable or overloaded raises
`TransientModelError`, which the wrapper retries. The embedded model and the test model reach their servers
(or litellm's `mock_response`) through litellm too, so they are subclasses that change the call's arguments.
"""

from __future__ import annotations

from typing import Any

import litellm
from pydantic import BaseModel

from lbi.config import Config
from lbi.errors import ContextWindowError, ModelAuthError, ModelError, UnknownModelError
from lbi.models.base import Completion, TransientModelError
from lbi.secrets import redact

litellm.suppress_debug_info = True
litellm.telemetry = False

TRANSIENT = (
    litellm.exceptions.RateLimitError,
    litellm.exceptions.APIConnectionError,
    litellm.exceptions.Timeout,
    litellm.exceptions.InternalServerError,
    litellm.exceptions.ServiceUnavailableError,
)


class LitellmModel:
    """A provider's model through litellm (the default kind: any model string no other kind claims)."""

    def __init__(self, name: str, config: Config) -> None:
        self.name = name
        self.config = config

    # -- what subclasses change --------------------------------------------------------
    def call_args(
        self, messages: list[dict[str, Any]], schema: type[BaseModel] | None, purpose: str | None
    ) -> dict[str, Any]:
        """litellm's arguments that say which model to reach and where (model, api_base, api_key, ...)."""
        args: dict[str, Any] = {"model": self.name}
        if self.config.models.api_base:
            args["api_base"] = self.config.models.api_base
        return args

    def response_format(self, schema: type[BaseModel]) -> dict[str, Any]:
        """The `response_format` that asks for JSON shaped by `schema` (OpenAI's `json_schema` form)."""
        return {
            "type": "json_schema",
            "json_schema": {"name": schema.__name__, "schema": schema.model_json_schema(), "strict": False},
        }

    def cache_name(self) -> str:
        """What the reply cache knows the model by: its string (a model whose weights change under one name
        adds their version)."""
        return self.name

    def unreachable(self) -> None:
        """Called when an attempt failed transiently, before the wrapper tries again."""

    def count_tokens(self, messages: list[dict[str, Any]]) -> int:
        return litellm.token_counter(model=self.name, messages=messages)

    def context_window(self) -> int | None:
        """From litellm's model list; None for a model it does not list."""
        try:
            info = litellm.get_model_info(self.name)
        except litellm.exceptions.ModelNotMappedError:
            return None
        return info.get("max_input_tokens") or info.get("max_tokens")

    def check_key(self, args: dict[str, Any]) -> None:
        """A provider model whose key variable is unset fails at once, naming the variable: litellm would send
        the call anyway and report the missing key as a server error, which the wrapper retries."""
        if "api_key" in args or "mock_response" in args:
            return
        found = litellm.validate_environment(model=self.name, api_base=args.get("api_base"))
        missing = found.get("missing_keys") or []
        if found.get("keys_in_environment") or not missing:
            return
        own = (
            f" (a server of your own at {args['api_base']} that takes no key accepts any value)"
            if args.get("api_base")
            else ""
        )
        raise ModelAuthError(f"{self.name}: no API key: set {' and '.join(missing)} in the environment{own}")

    # -- the call ----------------------------------------------------------------------
    def complete(
        self,
        messages: list[dict[str, Any]],
        params: dict[str, Any],
        *,
        schema: type[BaseModel] | None,
        purpose: str | None,
        timeout: float,
    ) -> Completion:
        args = self.call_args(messages, schema, purpose)
        self.check_key(args)
        if schema is not None:
            args["response_format"] = self.response_format(schema)
        try:
            response = litellm.completion(messages=messages, timeout=timeout, drop_params=True, **args, **params)
        except TRANSIENT as exc:  # litellm reports a refused connection as a 500 too
            self.unreachable()
            raise TransientModelError(
                redact(f"{self.name}: {type(exc).__name__}: {getattr(exc, 'message', exc)}")
            ) from exc
        except litellm.exceptions.AuthenticationError as exc:
            raise ModelAuthError(
                redact(
                    f"{self.name}: the provider refused the API key ({exc.message}); "
                    "set the provider's key variable (e.g. OPENAI_API_KEY)."
                )
            ) from exc
        except litellm.exceptions.ContextWindowExceededError as exc:
            raise ContextWindowError(
                redact(f"{self.name}: prompt too long for the context window: {exc.message}")
            ) from exc
        except litellm.exceptions.BadRequestError as exc:
            text = redact(str(exc.message))
            if "LLM Provider NOT provided" in text:
                raise UnknownModelError(
                    f"unknown model string {self.name!r}: use a litellm model string such as "
                    "'openai/gpt-4o-mini', 'anthropic/claude-3-5-haiku-latest', 'ollama/llama3.1' "
                    "or 'local/smollm2' in [models] of lbi.toml."
                ) from exc
            raise ModelError(f"{self.name}: bad request: {text}") from exc
        except (litellm.exceptions.APIError, litellm.exceptions.NotFoundError) as exc:
            raise ModelError(redact(f"{self.name}: {type(exc).__name__}: {getattr(exc, 'message', exc)}")) from exc
        usage = getattr(response, "usage", None)
        return Completion(
            text=response.choices[0].message.content or "",
            model=self.name,
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            cost=_cost(response),
        )


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
