"""A deterministic model for tests (never what the app or a demo runs on).

Replies come from a queue when tests enqueue them (simonw/llm's habit), otherwise from a
registered responder for the call's purpose, otherwise they are derived from a hash of the
prompt: the same messages always give the same reply, and a JSON schema is always satisfied.
The reply still travels through litellm (as its `mock_response`), so the model layer's
caching, parsing and usage logging are exercised exactly as with a real provider.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Callable
from typing import Any

Responder = Callable[[list[dict[str, Any]], dict[str, Any] | None], str]

_queue: deque[str] = deque()
_WORDS = ("ticket milestone wiki report query component priority owner roadmap timeline search attachment "
          "comment keyword severity version resolution summary description reporter status admin page "
          "history diff preferences login changeset browser source field filter column sort group").split()
_responders: dict[str, Responder] = {}


def enqueue(*replies: str) -> None:
    """Make the next calls to the fake model return these replies, in order."""
    _queue.extend(replies)


def clear() -> None:
    _queue.clear()
    _responders.clear()


def register_responder(purpose: str, responder: Responder) -> None:
    """Answer calls whose purpose is `purpose` with `responder(messages, schema)`."""
    _responders[purpose] = responder


def digest(messages: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(messages, sort_keys=True, default=str).encode()).hexdigest()


def _example(schema: dict[str, Any], defs: dict[str, Any], seed: str, name: str) -> Any:
    if "$ref" in schema:
        return _example(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, seed, name)
    for combo in ("anyOf", "oneOf", "allOf"):
        if combo in schema:
            options = [s for s in schema[combo] if s.get("type") != "null"] or schema[combo]
            return _example(options[0], defs, seed, name)
    if "enum" in schema:
        return schema["enum"][int(seed[:4], 16) % len(schema["enum"])]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type", "string")
    if kind == "object":
        props = schema.get("properties", {})
        return {key: _example(sub, defs, seed, key) for key, sub in props.items()}
    if kind == "array":
        count = max(schema.get("minItems", 1), 1)
        item = schema.get("items", {"type": "string"})
        return [_example(item, defs, hashlib.sha256(f"{seed}{i}".encode()).hexdigest(), name) for i in range(count)]
    if kind == "integer":
        return max(schema.get("minimum", 0), int(seed[:2], 16) % 5)
    if kind == "number":
        return float(max(schema.get("minimum", 0), int(seed[:2], 16) % 5))
    if kind == "boolean":
        return int(seed[0], 16) % 2 == 0
    words = [_WORDS[int(seed[k:k + 2], 16) % len(_WORDS)] for k in range(0, 16, 2)]
    return f"{name}: {' '.join(words)} {seed[:6]}"


def reply(messages: list[dict[str, Any]], schema: dict[str, Any] | None = None, purpose: str | None = None) -> str:
    """The fake model's reply to these messages."""
    if _queue:
        return _queue.popleft()
    if purpose and purpose in _responders:
        return _responders[purpose](messages, schema)
    seed = digest(messages)
    if schema is None:
        return f"fake reply {seed[:12]}"
    return json.dumps(_example(schema, schema.get("$defs", {}), seed, "value"))
