"""The policies that act in an environment: `llm` (carry out an instruction) and `explore`.

`LLMPolicy.act` asks the model for reasoning + one action, given the turn `lbi.prompts.messages.agent_turn`
builds from the task, the recent history, the current observation and (when given) retrieved examples.
`ExplorePolicy.act` needs no instruction: a random walk over the environment's interactive elements,
biased towards what it has tried least in this state, with the model writing text for inputs when one
is configured.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from lbi.agent.loop import Decision, History
from lbi.envs.base import Candidate, Env, Observation
from lbi.errors import OutputParseError
from lbi.models.schema import schema_hint
from lbi.observations import FILL_ROLES, actionable
from lbi.prompts.messages import agent_system, agent_turn, fill_messages, observation_text
from lbi.prompts.replies import AgentReply, FillText, reply_schema

if TYPE_CHECKING:
    from lbi.envs.tasks import Task

FILL_WORDS = (
    "test",
    "example",
    "hello world",
    "first draft",
    "notes",
    "42",
    "sample text",
    "2.0",
    "please review",
    "item1",
    "Maria",
    "blue",
    "Oslo",
    "kettle",
    "Jonah",
    "7",
    "river stone",
    "Quinn",
    "orange juice",
    "1987",
    "Tamsin",
    "lamp",
    "Deshawn",
    "green tea",
    "march",
    "Ingrid",
    "315",
    "velvet",
    "Kofi",
    "paper plane",
)
"""Text the explore policy types into fields when no model writes it (any environment)."""


def example_action(env: Env, obs: Observation, seed: int) -> str | None:
    """A plausible action on the current page, used only as the format example in the prompt."""
    candidates = env.interactive_elements(obs)
    if not candidates:
        return None
    c = candidates[seed % len(candidates)]
    return c.action or _example_call(c.bid, fill=c.kind == "fill")


def _example_call(bid: str, *, fill: bool) -> str:
    return f"fill('{bid}', 'some text')" if fill else f"click('{bid}')"


def example_seed(steps_before: int, page_text: str) -> int:
    """Which element `example_action` shows: it varies with the step and the page."""
    return steps_before * 7 + len(page_text)


def outline_example(observation: str, seed: int) -> str | None:
    """`example_action`'s rule on a recorded outline (`lbi.observations.actionable`), for a step whose prompt
    was recorded without the example (an explore step before lbi showed it there); None if the outline lists
    no element to act on (a terminal, a table)."""
    found = actionable(observation)
    if not found:
        return None
    bid, role = found[seed % len(found)]
    return _example_call(bid, fill=role in FILL_ROLES)


def with_reply_example(system: str, example: str | None) -> str:
    """An agent system message (`agent_system`) with the reply example of its last paragraph replaced by
    `example` (None: the placeholder "..."); a message without that paragraph comes back as it is."""
    head, _, hint = system.rpartition("\n\n")
    if not head or not hint.startswith(_reply_hint(None).split("{", 1)[0]):
        return system
    return f"{head}\n\n{_reply_hint(example)}"


@lru_cache(maxsize=1024)
def _reply_hint(example: str | None) -> str:
    """The reply-shape line with `example` (an export asks for it on every step: the schema is built once)."""
    return schema_hint(reply_schema(example, NO_PATTERN))


NO_PATTERN = ".*"
"""A pattern for `reply_schema` when only the prompt's hint is wanted (the pattern is not shown in it)."""


def agent_prompt(
    env: Env, obs: Observation, steps_before: int, description: str, example: str = "page", constrain: bool = True
) -> tuple[str, type[AgentReply]]:
    """The agent's system message at this step and its reply schema: the environment, its actions, the reply's
    shape with an action on the page as its example (`models.agent_example = "page"`) or none ("..."); the
    action held to the environment's grammar when `constrain`."""
    sample = example_action(env, obs, example_seed(steps_before, obs.text)) if example == "page" else None
    schema = reply_schema(sample, env.action_pattern() if constrain else None)
    return agent_system(description, env.action_space_doc(), schema_hint(schema)), schema


class LLMPolicy:
    name = "llm"

    def __init__(
        self,
        llm: Any,
        *,
        env_description: str = "",
        role: str = "agent",
        constrain: bool = True,
        example: str = "page",
    ) -> None:
        self.llm = llm
        self.env_description = env_description
        self.role = role
        self.constrain = constrain  # the reply's action held to the env's action grammar (bench/action_validity.py)
        self.example = example  # models.agent_example: an action on the page, or none ("...")

    def act(self, env: Env, task: Task, obs: Observation, history: History, examples: str = "") -> Decision:
        system, schema = agent_prompt(env, obs, len(history), self.env_description, self.example, self.constrain)
        shown = observation_text(obs)
        messages = agent_turn(system, task.instruction, shown, history.render(), examples)
        try:
            reply = self.llm.complete(messages, role=self.role, purpose="act", schema=schema, hint=False)
        except OutputParseError as exc:
            return Decision(
                action="noop()", error=f"unusable model reply: {exc}", raw=exc.raw, system=system, observation=shown
            )
        return Decision(
            action=reply.parsed.action.strip(),
            reasoning=reply.parsed.reasoning.strip(),
            system=system,
            observation=shown,
        )


class ExplorePolicy:
    """Coverage-biased random walk: prefer elements least tried in the current state."""

    name = "explore"

    def __init__(
        self, seed: int | str = 0, *, llm: Any | None = None, env_description: str = "", example: str = "page"
    ) -> None:
        self.rng = random.Random(seed)
        self.llm = llm
        self.env_description = env_description
        self.example = example  # models.agent_example, so that the recorded turn is the llm agent's
        self.tried: Counter[tuple[str, str]] = Counter()

    def _key(self, c: Candidate) -> str:
        return c.action or f"{c.kind}:{c.bid}"

    def choose(self, obs: Observation, candidates: Sequence[Candidate]) -> Candidate | None:
        if not candidates:
            return None
        fewest = min(self.tried[(obs.state_signature, self._key(c))] for c in candidates)
        pool = [c for c in candidates if self.tried[(obs.state_signature, self._key(c))] == fewest]
        choice = self.rng.choice(pool)
        self.tried[(obs.state_signature, self._key(choice))] += 1
        return choice

    def _text_for(self, candidate: Candidate, obs: Observation) -> str:
        if self.llm is None:
            return self.rng.choice(FILL_WORDS)
        messages = fill_messages(self.env_description, obs.title, candidate.name or candidate.bid)
        try:
            reply = self.llm.complete(messages, role="agent", purpose="explore-fill", schema=FillText)
        except OutputParseError as exc:
            self.llm.record_failure("explore-fill", exc, item=candidate.bid)
            return self.rng.choice(FILL_WORDS)
        return " ".join(reply.parsed.text.split())[:80] or self.rng.choice(FILL_WORDS)

    def act(self, env: Env, task: Task, obs: Observation, history: History, examples: str = "") -> Decision:
        """The next element's action; the decision carries the turn an llm agent would have had here (its reply
        example included), so an explore step trains the model in the prompt it will act in."""
        system, _ = agent_prompt(env, obs, len(history), self.env_description, self.example)
        return replace(self._explore(env, obs), system=system, observation=observation_text(obs))

    def _explore(self, env: Env, obs: Observation) -> Decision:
        candidate = self.choose(obs, env.interactive_elements(obs))
        if candidate is None:
            return Decision(action="go_back()", reasoning="nothing to interact with here")
        if candidate.action:
            return Decision(action=candidate.action, reasoning="explore")
        if candidate.kind == "fill":
            text = self._text_for(candidate, obs).replace('"', "'")
            return Decision(
                action=f'fill("{candidate.bid}", "{text}")', reasoning=f"explore: type into {candidate.name}"
            )
        if candidate.kind == "select" and candidate.options:
            value = self.rng.choice(candidate.options).replace('"', "'")
            return Decision(
                action=f'select_option("{candidate.bid}", "{value}")', reasoning=f"explore: choose in {candidate.name}"
            )
        return Decision(
            action=f'click("{candidate.bid}")', reasoning=f"explore: click {candidate.role} {candidate.name}"
        )
