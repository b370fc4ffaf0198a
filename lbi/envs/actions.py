"""BrowserGym-style actions: specs whose docs are the prompt, and a parser for model text.

An action is one Python-style call with literal arguments: ``click('12')``,
``fill('field-summary', "Crash on save")``, ``scroll(0, 300)``, ``stop("42")``.
The parser accepts what models usually write around it (a code fence, an ``Action:``
label, reasoning lines before the call) and rejects anything else with an error that
says what went wrong and what is allowed.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from typing import Any

_MISSING = object()


class ActionParseError(ValueError):
    """The text is not one valid action; the message is shown to the agent."""


@dataclass(frozen=True)
class ActionSpec:
    """One action: ``name(params...)``; ``params`` are ``(name, type)`` or
    ``(name, type, default)``; ``doc`` and ``example`` become the prompt text."""

    name: str
    params: tuple[tuple[Any, ...], ...]
    doc: str
    example: str = ""

    def signature(self) -> str:
        parts = []
        for p in self.params:
            typ = _type_name(p[1])
            parts.append(f"{p[0]}: {typ}" + (f" = {p[2]!r}" if len(p) > 2 else ""))
        return f"{self.name}({', '.join(parts)})"


@dataclass(frozen=True)
class Action:
    """A parsed action: name and arguments in parameter order (defaults filled in)."""

    name: str
    args: tuple[Any, ...] = ()
    raw: str = ""

    def to_text(self) -> str:
        return f"{self.name}({', '.join(_lit(a) for a in self.args)})"

    @property
    def bid(self) -> str | None:
        """The element id the action targets, if its first parameter is a bid."""
        return str(self.args[0]) if self.args and self.name in BID_ACTIONS else None


BID_ACTIONS = {
    "click",
    "dblclick",
    "hover",
    "fill",
    "clear",
    "select_option",
    "check",
    "uncheck",
    "press",
    "focus",
    "double_click",
    "right_click",
    "drag",
}


def _lit(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value)


def _type_name(typ: Any) -> str:
    if isinstance(typ, tuple):
        return " | ".join(_type_name(t) for t in typ)
    return {str: "str", float: "float", int: "int", bool: "bool", list: "list[str]"}.get(
        typ, getattr(typ, "__name__", str(typ))
    )


def describe_actions(specs: dict[str, ActionSpec]) -> str:
    """Prompt text for an action space: one line per action, its call with parameter names (and defaults), what
    it does, and an example for the first action of each parameter list (`click('12')` shows how every action on
    one `bid` is written). The agent's prompt pays for every token of it at every step."""
    lines = ["Reply with exactly one action, a single function call with literal arguments:"]
    shown: set[tuple[str, ...]] = set()
    for spec in specs.values():
        names = tuple(p[0] for p in spec.params)
        params = ", ".join(p[0] + (f"={p[2]!r}" if len(p) > 2 else "") for p in spec.params)
        example = f" Example: {spec.example}" if spec.example and names not in shown else ""
        shown.add(names)
        lines.append(f"- {spec.name}({params}): {spec.doc}{example}")
    return "\n".join(lines)


_FENCE = re.compile(r"```([A-Za-z0-9_+-]*)[ \t]*\n(.*?)```", re.S)
_LABEL = re.compile(r"^\s*(?:action|next action)\s*:\s*", re.I)


def parse_action(text: str, specs: dict[str, ActionSpec], bare: tuple[str, tuple[str, ...]] | None = None) -> Action:
    """Turn the model's text into an :class:`Action` of ``specs`` or raise
    :class:`ActionParseError`.

    ``bare = (action_name, fence_languages)``: a fenced block in one of those languages
    (e.g. ```` ```sql ````) whose body is not a call becomes ``action_name(body)``.
    """
    if not isinstance(text, str):
        raise ActionParseError(f"an action must be text, not {type(text).__name__}")
    source = text.strip()
    if not source:
        raise ActionParseError("empty action; " + _allowed(specs))
    fences = _FENCE.findall(source)
    if fences:
        lang, body = fences[-1]
        body = body.strip()
        if bare and lang.lower() in bare[1] and not _looks_like_call(body, specs):
            return Action(bare[0], (body,), raw=text)
        source = body
    source = _LABEL.sub("", source).strip()
    call = _find_call(source, specs)
    return _to_action(call, specs, text)


def _looks_like_call(body: str, specs: dict[str, ActionSpec]) -> bool:
    match = re.match(r"\s*([A-Za-z_]\w*)\s*\(", body)
    return bool(match and match.group(1) in specs)


def _find_call(source: str, specs: dict[str, ActionSpec]) -> ast.Call:
    try:
        tree = ast.parse(source, mode="exec")
    except SyntaxError:
        tree = None
    if tree is not None:
        calls = [n.value for n in tree.body if isinstance(n, ast.Expr) and isinstance(n.value, ast.Call)]
        if len(tree.body) == 1 and calls:
            return calls[0]
        if len(calls) > 1 and len(calls) == len(tree.body):
            raise ActionParseError(f"found {len(calls)} actions; give exactly one per step")
    # Prose around the call: take the last line that starts a known action.
    lines = source.splitlines()
    starts = [
        i for i, line in enumerate(lines) if (m := re.match(r"\s*`?([A-Za-z_]\w*)\s*\(", line)) and m.group(1) in specs
    ]
    for i in reversed(starts):
        for j in range(i + 1, len(lines) + 1):
            chunk = "\n".join(lines[i:j]).strip().strip("`").strip()
            # models put raw newlines inside string literals: retry with them escaped
            for variant in (chunk, chunk.replace("\n", "\\n")):
                try:
                    node = ast.parse(variant, mode="eval").body
                except SyntaxError:
                    continue
                if isinstance(node, ast.Call):
                    return node
    name = re.match(r"\s*([A-Za-z_]\w*)\s*\(", source)
    if name and name.group(1) not in specs:
        raise ActionParseError(f"unknown action {name.group(1)!r}; " + _allowed(specs))
    if name:
        raise ActionParseError(
            f"could not parse {source[:200]!r} as a call: check quotes and parentheses; arguments must be literals"
        )
    raise ActionParseError(f"no action found in {source[:200]!r}; " + _allowed(specs))


def _allowed(specs: dict[str, ActionSpec]) -> str:
    return "allowed actions: " + ", ".join(s.signature() for s in specs.values())


def _to_action(call: ast.Call, specs: dict[str, ActionSpec], raw: str) -> Action:
    if not isinstance(call.func, ast.Name):
        raise ActionParseError(f"{ast.unparse(call.func)!r} is not an action name; " + _allowed(specs))
    name = call.func.id
    spec = specs.get(name)
    if spec is None:
        raise ActionParseError(f"unknown action {name!r}; " + _allowed(specs))
    try:
        pos = [ast.literal_eval(a) for a in call.args]
        kw = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
    except (ValueError, TypeError, SyntaxError) as err:
        raise ActionParseError(f"{name}(): arguments must be literal values (strings, numbers, lists): {err}") from None
    if None in kw:
        raise ActionParseError(f"{name}(): **kwargs are not allowed")
    if len(pos) > len(spec.params):
        raise ActionParseError(
            f"{name}() takes {len(spec.params)} argument(s), got {len(pos)}; usage: {spec.signature()}"
        )
    values: list[Any] = []
    for i, param in enumerate(spec.params):
        pname, ptype = param[0], param[1]
        if i < len(pos):
            if pname in kw:
                raise ActionParseError(f"{name}(): {pname} given twice")
            value = pos[i]
        elif pname in kw:
            value = kw.pop(pname)
        elif len(param) > 2:
            value = param[2]
        else:
            raise ActionParseError(f"{name}() is missing {pname!r}; usage: {spec.signature()}")
        values.append(_coerce(name, pname, ptype, value, spec))
    extra = set(kw) - {p[0] for p in spec.params}
    if extra:
        raise ActionParseError(
            f"{name}() got unexpected argument(s) {sorted(extra, key=str)}; usage: {spec.signature()}"
        )
    return Action(name, tuple(values), raw=raw)


def _coerce(name: str, pname: str, ptype: Any, value: Any, spec: ActionSpec) -> Any:
    types = ptype if isinstance(ptype, tuple) else (ptype,)
    if pname == "bid" and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    for typ in types:
        if typ is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if typ is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if typ is list and isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return list(value)
        if typ is str and isinstance(value, str):
            return value
        if typ is bool and isinstance(value, bool):
            return value
    raise ActionParseError(f"{name}(): {pname} must be {_type_name(ptype)}, got {value!r}; usage: {spec.signature()}")


# -- the action grammar ---------------------------------------------------------------------
# A regular expression for one call of an action space, written over the text of the reply's JSON string
# (a grammar-constrained decoder, llama.cpp's, reads the pattern of a JSON-schema string that way): a
# double quote inside the call stands there as \", a backslash as \\. A string argument holds printable ASCII
# (a raw control character would break the JSON) and the escapes \n and \t; no quote of its own kind.
_ESCAPE = r"\\\\[nt]"
_SQ = rf"'([ -!#-&(-\[\]-~]|{_ESCAPE})*'"
_DQ = rf'\\"([ -!#-\[\]-~]|{_ESCAPE})*\\"'
_STRING = f"({_SQ}|{_DQ})"
_NUMBER = r"-?[0-9]+([.][0-9]+)?"  # [.], not \., which llama.cpp's grammar does not take
_SEP = ", ?"


def _arg_pattern(typ: Any) -> str:
    if isinstance(typ, tuple):
        return "(" + "|".join(_arg_pattern(t) for t in typ) + ")"
    if typ is list:
        return rf"\[({_STRING}({_SEP}{_STRING})*)?\]"
    if typ in (float, int):
        return _NUMBER
    if typ is bool:
        return "(True|False)"
    return _STRING


def _call_pattern(spec: ActionSpec) -> str:
    args = ""
    for i, param in reversed(list(enumerate(spec.params))):  # optional tails nest: (a(, b)?)?
        head = ("" if i == 0 else _SEP) + _arg_pattern(param[1])
        args = f"({head}{args})?" if len(param) > 2 else head + args
    return re.escape(spec.name) + r"\(" + args + r"\)"


def action_pattern(specs: dict[str, ActionSpec]) -> str:
    """The pattern of exactly one well-formed call of `specs`, positional literal arguments, over the reply's
    JSON text (see above): the `pattern` of the agent's `action` field, so the local model's constrained
    decoding can only write a call that `parse_action` accepts."""
    return "^(" + "|".join(_call_pattern(spec) for spec in specs.values()) + ")$"


def matches_pattern(action: str, pattern: str) -> bool:
    """Whether the action, as it stands inside a JSON string, matches an `action_pattern`."""
    return re.fullmatch(pattern, json.dumps(action)[1:-1]) is not None
