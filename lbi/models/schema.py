"""JSON-schema helpers of the model layer: one walker over a schema's shape, the prompt skeleton built on it,
the schema hint added to a conversation, and the tolerant parsing of a reply into a pydantic model.

`walk` resolves references and combinations and builds objects and arrays itself; what a leaf holds (a
placeholder, an example, a hash-derived value) is the caller's `leaf(node, path)`. The prompt skeleton
(`skeleton`) and the test model's replies (`lbi.models.fake`) are both walks.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel

T = TypeVar("T", bound=BaseModel)
SchemaPath = tuple[str | int, ...]
"""Where a node sits in the value being built: property names and array indexes from the root."""
Leaf = Callable[[dict[str, Any], SchemaPath], Any]


def _one_item(node: dict[str, Any]) -> int:
    return 1


def walk(
    schema: dict[str, Any],
    leaf: Leaf,
    *,
    items: Callable[[dict[str, Any]], int] = _one_item,
    defs: dict[str, Any] | None = None,
    path: SchemaPath = (),
) -> Any:
    """A value shaped like `schema`.

    `$ref`s are resolved against the root's `$defs`; of `anyOf`/`oneOf`/`allOf` the first option that is not
    `null` is taken; an object gets every property, an array `items(node)` elements; every other node (a
    scalar, an enum, a const) is `leaf(node, path)`.
    """
    defs = schema.get("$defs", {}) if defs is None else defs
    if "$ref" in schema:
        return walk(defs[schema["$ref"].rsplit("/", 1)[-1]], leaf, items=items, defs=defs, path=path)
    for combo in ("anyOf", "oneOf", "allOf"):
        if combo in schema:
            options = [s for s in schema[combo] if s.get("type") != "null"] or schema[combo]
            return walk(options[0], leaf, items=items, defs=defs, path=path)
    kind = schema.get("type")
    if kind == "object":
        return {
            key: walk(sub, leaf, items=items, defs=defs, path=(*path, key))
            for key, sub in schema.get("properties", {}).items()
        }
    if kind == "array":
        return [
            walk(schema.get("items", {}), leaf, items=items, defs=defs, path=(*path, i)) for i in range(items(schema))
        ]
    return leaf(schema, path)


def _placeholder(node: dict[str, Any], path: SchemaPath) -> Any:
    if node.get("examples"):
        return node["examples"][0]
    return {"integer": 0, "number": 0.0, "boolean": True}.get(node.get("type") or "string", "...")


def skeleton(schema: dict[str, Any]) -> Any:
    """An example value of a JSON schema's shape (field names, placeholder values or a field's first example),
    for prompts.

    Small models copy whatever text a prompt shows; a skeleton shows the shape without descriptions they
    would echo back as content.
    """
    return walk(schema, _placeholder)


def schema_hint(schema: type[BaseModel]) -> str:
    """The line that tells a model the reply's shape (field names, example values)."""
    shape = json.dumps(skeleton(schema.model_json_schema()))
    return f"Reply with one JSON object only, no prose, shaped like this: {shape}"


def with_schema_hint(messages: list[dict[str, Any]], schema: type[BaseModel]) -> list[dict[str, Any]]:
    """`messages` with the reply's shape appended to the system message (or as a first system message)."""
    hint = schema_hint(schema)
    if messages and messages[0].get("role") == "system":
        return [{**messages[0], "content": f"{messages[0]['content']}\n\n{hint}"}, *messages[1:]]
    return [{"role": "system", "content": hint}, *messages]


def parse_json_reply(text: str, schema: type[T]) -> T:
    """Validate a reply against `schema`, tolerating code fences and prose around one JSON object."""
    body = text.strip()
    if body.startswith("```"):
        body = body.strip("`")
        body = body[body.find("\n") + 1 :] if "\n" in body else body
    start, end = body.find("{"), body.rfind("}")
    if start != -1 and end > start:
        body = body[start : end + 1]
    return schema.model_validate_json(body)
