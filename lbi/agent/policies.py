"""The policies that act in an environment: `llm` (carry out an instruction) and `explore`.

`LLMPolicy.act` builds the prompt from the instruction, the recent history, the current
observation and (when given) retrieved examples, and returns reasoning + one action.
`ExplorePolicy.act` needs no instruction: a random walk over the page's interactive elements,
biased towards what it has tried least in this state, with the model writing text for inputs
when one is configured.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field, create_model

from lbi.envs.base import Candidate, Env, Observation
from lbi.errors import OutputParseError

OBS_CHARS = 3000
HISTORY = 4
FILL_WORDS = ("crash on save", "update the docs", "release 2.0", "login page", "performance",
              "milestone3", "please review", "wiki", "test", "component1")


class AgentReply(BaseModel):
    reasoning: str = Field(description="Brief thinking about what to do next.")
    action: str = Field(description="Exactly one action call, e.g. click('12').")


def reply_schema(example_action: str | None) -> type[AgentReply]:
    """AgentReply whose prompt skeleton shows an action on an element of the current page: small models
    copy the example's shape (a real bid) instead of a placeholder."""
    if not example_action:
        return AgentReply
    return create_model("AgentReply", __base__=AgentReply,
                        reasoning=(str, Field(description="Brief thinking about what to do next.",
                                              examples=["First I need to open the right page."])),
                        action=(str, Field(description="Exactly one action call.", examples=[example_action])))


def example_action(env: Env, obs: Observation, seed: int) -> str | None:
    """A plausible action on the current page, used only as the format example in the prompt."""
    candidates = env.interactive_elements(obs)
    if not candidates:
        return None
    c = candidates[seed % len(candidates)]
    if c.action:
        return c.action
    return f"fill('{c.bid}', 'some text')" if c.kind == "fill" else f"click('{c.bid}')"


class FillText(BaseModel):
    text: str = Field(description="Short realistic text to type into the field.")


@dataclass
class Decision:
    action: str
    reasoning: str = ""
    error: str | None = None  # the model's reply could not be used (recorded, the episode goes on)
    raw: str | None = None


@dataclass
class History:
    entries: list[tuple[str, str | None]] = field(default_factory=list)  # (action, error)

    def add(self, action: str, error: str | None) -> None:
        self.entries.append((action, error))

    def render(self, last: int = HISTORY) -> str:
        if not self.entries:
            return "(none yet)"
        start = max(0, len(self.entries) - last)
        lines = []
        for i, (action, error) in enumerate(self.entries[start:], start=start):
            lines.append(f"{i}. {action}" + (f"  -> error: {error}" if error else ""))
        return "\n".join(lines)


def observation_text(obs: Observation, limit: int = OBS_CHARS) -> str:
    head = f"URL: {obs.url}\nTitle: {obs.title}\n" if obs.url else ""
    body = obs.text if len(obs.text) <= limit else obs.text[:limit] + "\n… (truncated)"
    error = f"\nThe last action failed: {obs.last_action_error}" if obs.last_action_error else ""
    return f"{head}{body}{error}"


def agent_messages(instruction: str, obs: Observation, history: History, action_doc: str,
                   env_description: str = "", examples: str = "") -> list[dict[str, str]]:
    system = (f"You are an agent acting in this environment: {env_description}\n\n{action_doc}\n\n"
              "Each turn, think briefly, then give exactly one action.")
    parts = [f"Task: {instruction}"]
    if examples:
        parts.append(f"Examples of how similar tasks were done here:\n{examples}")
    parts.append(f"Previous actions:\n{history.render()}")
    parts.append(f"Current observation:\n{observation_text(obs)}")
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n\n".join(parts)}]


class LLMPolicy:
    name = "llm"

    def __init__(self, llm: Any, *, env_description: str = "", role: str = "agent") -> None:
        self.llm = llm
        self.env_description = env_description
        self.role = role

    def act(self, env: Env, instruction: str, obs: Observation, history: History, examples: str = "") -> Decision:
        messages = agent_messages(instruction, obs, history, env.action_space_doc(), self.env_description, examples)
        schema = reply_schema(example_action(env, obs, len(history.entries) * 7 + len(obs.text)))
        try:
            reply = self.llm.complete(messages, role=self.role, purpose="act", schema=schema)
        except OutputParseError as exc:
            return Decision(action="noop()", error=f"unusable model reply: {exc}", raw=exc.raw)
        return Decision(action=reply.parsed.action.strip(), reasoning=reply.parsed.reasoning.strip())


class ExplorePolicy:
    """Coverage-biased random walk: prefer elements least tried in the current state."""

    name = "explore"

    def __init__(self, seed: int | str = 0, *, llm: Any | None = None, env_description: str = "") -> None:
        self.rng = random.Random(seed)
        self.llm = llm
        self.env_description = env_description
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
        messages = [{"role": "user", "content": (
            f"Environment: {self.env_description}\nPage: {obs.title}\n"
            f"Write short realistic text a user would type into the field '{candidate.name or candidate.bid}'.")}]
        try:
            reply = self.llm.complete(messages, role="agent", purpose="explore-fill", schema=FillText)
        except OutputParseError as exc:
            self.llm.record_failure("explore-fill", exc, item=candidate.bid)
            return self.rng.choice(FILL_WORDS)
        return " ".join(reply.parsed.text.split())[:80] or self.rng.choice(FILL_WORDS)

    def act(self, env: Env, instruction: str, obs: Observation, history: History, examples: str = "") -> Decision:
        candidate = self.choose(obs, env.interactive_elements(obs))
        if candidate is None:
            return Decision(action="go_back()", reasoning="nothing to interact with here")
        if candidate.action:
            return Decision(action=candidate.action, reasoning="explore")
        if candidate.kind == "fill":
            text = self._text_for(candidate, obs).replace('"', "'")
            return Decision(action=f'fill("{candidate.bid}", "{text}")',
                            reasoning=f"explore: type into {candidate.name}")
        if candidate.kind == "select" and candidate.options:
            value = self.rng.choice(candidate.options).replace('"', "'")
            return Decision(action=f'select_option("{candidate.bid}", "{value}")',
                            reasoning=f"explore: choose in {candidate.name}")
        return Decision(action=f'click("{candidate.bid}")',
                        reasoning=f"explore: click {candidate.role} {candidate.name}")
