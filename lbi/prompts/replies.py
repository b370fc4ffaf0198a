"""The reply contracts: every reply schema lbi asks a model for, with the grammar patterns and sentence rules a
constrained decoder (llama.cpp's grammar, OpenAI's structured output) is given, and the readers of replies that
come back cut short. The messages that ask for them are in `lbi.prompts.messages`.

Schemas: the agent's turn (`AgentReply`, `reply_schema`), the explore policy's text for a field (`FillText`), task
generation (`TaskProposals`), backward construction per span (`SpanInstruction`) and batched (`batch_schema`,
read back by `span_fields`), the committee's judges (`Verdict`) and the retrieval query (`SearchQuery`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import BaseModel, Field, create_model
from pydantic.config import JsonDict

REASONING_WORDS = 40
# A sentence of 3 to `MAX_WORDS` words, for the schema sent to the model only (pydantic does not check
# `json_schema_extra`; `lbi.synth.backward.plausible` checks replies): a grammar-constrained decoder
# (llama.cpp) then can neither fill a field with a placeholder ("...", "[1]"), which small models do when
# asked for many fields at once, nor run on until the reply is cut off. It reads the raw JSON string, hence
# no quote or backslash inside. The optional words are flat, not nested (`{2,23}` would nest 23 deep, and
# llama.cpp's server crashes on that grammar).
MAX_WORDS = 24
_WORD = r'[^ "\\\n]+'
SENTENCE = "^[A-Za-z]" + _WORD[:-1] + "*" + f"( {_WORD})" * 2 + f"( {_WORD})?" * (MAX_WORDS - 3) + "$"
TOKENS_PER_SPAN = 40  # reply budget per span in batched mode: MAX_WORDS words and the field name
REASONING = "^" + _WORD + f"( {_WORD})?" * (REASONING_WORDS - 1) + "$"
"""The agent's reasoning, at most REASONING_WORDS words, for a constrained decoder only (like SENTENCE): a small
model that rambles until its token cap leaves a reply cut off mid-JSON, and the step is lost. Flat optional words,
not a `{0,n}` count, which llama.cpp's grammar would nest n deep."""


def sentence(description: str | None = None) -> Any:
    return Field(description=description, json_schema_extra={"pattern": SENTENCE})


class TaskProposals(BaseModel):
    instructions: list[Annotated[str, sentence()]] = Field(
        min_length=1, max_length=10, description="Realistic user instructions, one sentence each."
    )


class SpanInstruction(BaseModel):
    instruction: str = sentence("The instruction that these steps accomplish.")


def span_key(start: int, end: int) -> str:
    """A batched reply's field for steps start..end. Named for the task, not the steps: asked for
    `steps_2_to_5`, SmolLM2 wrote about steps ("The fifth step will be the next one.")."""
    return f"task_{start}_{end}"


_SPAN_FIELD = re.compile(r'"task_(\d+)_(\d+)"\s*:\s*("(?:[^"\\]|\\.)*")')


def span_fields(text: str) -> dict[tuple[int, int], str]:
    """The span fields a reply completed, read one by one, so a reply cut off by its token limit (or broken
    after some fields) still gives the instructions it finished."""
    fields = {}
    for match in _SPAN_FIELD.finditer(text):
        try:
            fields[(int(match[1]), int(match[2]))] = json.loads(match[3])
        except json.JSONDecodeError:  # a bad escape inside one value: that field only is lost
            continue
    return fields


def batch_schema(spans: Sequence[tuple[int, int]]) -> type[BaseModel]:
    """A reply schema with one required field per span (`task_2_5`), so a constrained decoder
    (llama.cpp's grammar, OpenAI's structured output) cannot leave a span out."""
    fields: dict[str, Any] = {span_key(i, j): (str, sentence(f"instruction for steps {i}..{j}")) for i, j in spans}
    return create_model(f"Spans{spans[0][0]}to{spans[-1][1]}", **fields)


class Verdict(BaseModel):
    reason: str = Field(description="One or two sentences.")
    verdict: bool = Field(description="true to keep the example, false to drop it.")


# -- the agent ---------------------------------------------------------------------------------------------
class AgentReply(BaseModel):
    reasoning: str = Field(
        description="Brief thinking about what to do next.", json_schema_extra={"pattern": REASONING}
    )
    action: str = Field(description="Exactly one action call, e.g. click('12').")


def reply_schema(example_action: str | None, pattern: str | None = None) -> type[AgentReply]:
    """AgentReply whose `action` field carries the environment's action `pattern` (a grammar-constrained
    decoder then writes only well-formed calls) and, in the prompt skeleton, an action on an element of the
    current page: small models copy the example's shape (a real bid) instead of a placeholder."""
    if not example_action and not pattern:
        return AgentReply
    extra: JsonDict | None = {"pattern": pattern} if pattern else None
    examples = [example_action] if example_action else None
    return create_model(
        "AgentReply",
        __base__=AgentReply,
        reasoning=(
            str,
            Field(
                description="Brief thinking about what to do next.",
                json_schema_extra={"pattern": REASONING},
                examples=["First I need to open the right page."],
            ),
        ),
        action=(str, Field(description="Exactly one action call.", examples=examples, json_schema_extra=extra)),
    )


def reply_text(reasoning: str, action: str) -> str:
    """The agent's reply as it writes it (an `AgentReply`), the assistant turn of a training record."""
    return json.dumps({"reasoning": reasoning, "action": action}, ensure_ascii=False)


class FillText(BaseModel):
    text: str = Field(description="Short realistic text to type into the field.")


class SearchQuery(BaseModel):
    query: str = Field(description="A short search query for examples of how to do the next step.")
