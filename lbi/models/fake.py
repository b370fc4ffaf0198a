"""The deterministic test model, `fake` (or `fake/<anything>`): never what the app or a demo runs on.

Replies come from a queue when tests enqueue them (simonw/llm's habit), otherwise from a responder
registered for the call's purpose, otherwise they are derived from a hash of the prompt: the same
messages always give the same reply, and a JSON schema is always satisfied. The reply still travels
through litellm (as its `mock_response`), so the wrapper's caching, parsing and usage logging are
exercised exactly as with a real provider.

The queue and the responders belong to the class, not to one instance: a test scripts the model before
the code under test makes its `LLM` (`FakeModel.enqueue(...)`), and `FakeModel.clear()` resets it. Neither
reaches another process (a Ray worker); `fake/latency-S` answers like `fake` after S seconds without using
the CPU, as a remote model would (fault tests catch an episode mid-way; benchmarks model the model's time).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import deque
from collections.abc import Callable
from typing import Any, ClassVar

import litellm
from pydantic import BaseModel

from lbi.models.litellm_model import LitellmModel
from lbi.models.schema import SchemaPath, walk

Responder = Callable[[list[dict[str, Any]], dict[str, Any] | None], str]

WORDS = (
    "ticket milestone wiki report query component priority owner roadmap timeline search attachment "
    "comment keyword severity version resolution summary description reporter status admin page "
    "history diff preferences login changeset browser source field filter column sort group"
).split()


def digest(messages: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(messages, sort_keys=True, default=str).encode()).hexdigest()


class FakeModel(LitellmModel):
    """Scripted or hash-derived replies, served through litellm's `mock_response`."""

    _queue: ClassVar[deque[str]] = deque()
    _responders: ClassVar[dict[str, Responder]] = {}

    # -- the script (tests) ------------------------------------------------------------
    @classmethod
    def enqueue(cls, *replies: str) -> None:
        """Make the next calls to the fake model return these replies, in order."""
        cls._queue.extend(replies)

    @classmethod
    def register_responder(cls, purpose: str, responder: Responder) -> None:
        """Answer calls whose purpose is `purpose` with `responder(messages, schema)`."""
        cls._responders[purpose] = responder

    @classmethod
    def clear(cls) -> None:
        cls._queue.clear()
        cls._responders.clear()

    @classmethod
    def reply(
        cls, messages: list[dict[str, Any]], schema: dict[str, Any] | None = None, purpose: str | None = None
    ) -> str:
        """The fake model's reply to these messages: queued, else the purpose's responder, else hash-derived."""
        if cls._queue:
            return cls._queue.popleft()
        if purpose and purpose in cls._responders:
            return cls._responders[purpose](messages, schema)
        seed = digest(messages)
        if schema is None:
            return f"fake reply {seed[:12]}"
        return json.dumps(walk(schema, lambda node, path: _leaf(node, path, seed), items=_items))

    # -- the Model ---------------------------------------------------------------------
    def call_args(
        self, messages: list[dict[str, Any]], schema: type[BaseModel] | None, purpose: str | None
    ) -> dict[str, Any]:
        text = self.reply(messages, schema.model_json_schema() if schema else None, purpose)
        if latency := re.fullmatch(r"fake/latency-(\d+(?:\.\d+)?)", self.name):
            time.sleep(float(latency.group(1)))
        # litellm takes an empty mock_response for "no mock" and would call the real provider
        mock = text or litellm.ModelResponse(
            model="fake",
            choices=[{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": ""}}],
            usage={"prompt_tokens": 10, "completion_tokens": 0, "total_tokens": 10},
        )
        return {"model": "openai/fake", "api_key": "fake", "mock_response": mock}

    def count_tokens(self, messages: list[dict[str, Any]]) -> int:
        return litellm.token_counter(model="gpt-4o", messages=messages)

    def context_window(self) -> int | None:
        return None


def _items(node: dict[str, Any]) -> int:
    return max(node.get("minItems", 1), 1)


def _leaf(node: dict[str, Any], path: SchemaPath, seed: str) -> Any:
    """A leaf's value from the prompt's hash: each array element re-hashes the seed with its index, and a
    string names the property it fills."""
    for step in path:
        if isinstance(step, int):
            seed = hashlib.sha256(f"{seed}{step}".encode()).hexdigest()
    name = next((step for step in reversed(path) if isinstance(step, str)), "value")
    if "enum" in node:
        return node["enum"][int(seed[:4], 16) % len(node["enum"])]
    if "const" in node:
        return node["const"]
    kind = node.get("type", "string")
    if kind == "integer":
        return max(node.get("minimum", 0), int(seed[:2], 16) % 5)
    if kind == "number":
        return float(max(node.get("minimum", 0), int(seed[:2], 16) % 5))
    if kind == "boolean":
        return int(seed[0], 16) % 2 == 0
    words = [WORDS[int(seed[k : k + 2], 16) % len(WORDS)] for k in range(0, 16, 2)]
    return f"{name}: {' '.join(words)} {seed[:6]}"
