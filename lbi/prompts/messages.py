"""The message builders: every prompt lbi sends, in one place so they can be read and tuned: the agent's turn
(and the explore policy's text for a field), task generation, backward construction (per span and batched), the
committee's judges, and the retrieval query. The replies they ask for are in `lbi.prompts.replies`.

One observation-length rule: an observation shown on its own (to the agent, in the retrieval query prompt, in
exported training records) is cut at `OBS_CHARS` by `observation_text`; steps shown together (backward
construction, judges) share `OBS_BUDGET` characters, at most `STEP_OBS_CHARS` each (`render_steps`); a retrieved
example's observations share what the retrieval token budget leaves it (`example_text`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lbi.envs.base import Observation
from lbi.observations import TRUNCATED, compact_outline, describe_action, fit_outline, page_content, place
from lbi.prompts.replies import reply_text, span_key

OBS_CHARS = 3000  # one observation shown on its own
OUTLINE_CHARS = 4000  # a web page's compact outline shown on its own (about 7,000 characters of the full outline)
STEP_OBS_CHARS = 500  # each of many steps shown together
OBS_BUDGET = 6000  # characters of observation per prompt of many steps: long spans show less of each page
MIN_OBS_CHARS = 120
HISTORY = 4  # previous actions the agent sees


# -- the agent ---------------------------------------------------------------------------------------------
def clip(text: str, limit: int = OBS_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + TRUNCATED


def observation_text(obs: Observation) -> str:
    """An observation as the agent sees it: URL and title (web), the text cut at `OBS_CHARS`, the last error.
    lbi's outline of a web page (`info["outline"]`, set by the web env) is shown compact (`compact_outline`:
    every element the agent can act on, in fewer tokens) and cut at `OUTLINE_CHARS` losing text before elements
    (`fit_outline`)."""
    head = f"URL: {obs.url}\nTitle: {obs.title}\n" if obs.url else ""
    text = fit_outline(compact_outline(obs.text), OUTLINE_CHARS) if obs.info.get("outline") else clip(obs.text)
    error = f"\nThe last action failed: {obs.last_action_error}" if obs.last_action_error else ""
    return f"{head}{text}{error}"


def history_text(entries: Sequence[tuple[str, str | None]], last: int = HISTORY) -> str:
    """The last `last` (action, error) pairs, numbered from the episode's start."""
    if not entries:
        return "(none yet)"
    start = max(0, len(entries) - last)
    return "\n".join(
        f"{i}. {action}" + (f"  -> error: {error}" if error else "")
        for i, (action, error) in enumerate(entries[start:], start=start)
    )


def agent_system(env_description: str, action_doc: str, reply_hint: str) -> str:
    """The agent's system message: the environment, its actions, and the shape of the reply."""
    return (
        f"You are an agent acting in this environment: {env_description}\n\n{action_doc}\n\n"
        f"Each turn, think briefly, then give exactly one action.\n\n{reply_hint}"
    )


def agent_turn(
    system: str, instruction: str, observation: str, history: str, examples: str = ""
) -> list[dict[str, str]]:
    """The agent's turn, the one builder of it: what the llm policy sends, and what an export record of a step
    holds (with the example's instruction): the system message, then the task, retrieved examples, the
    previous actions and the current observation (`observation_text`)."""
    parts = [f"Task: {instruction}"]
    if examples:
        parts.append(f"Examples of how similar tasks were done here:\n{examples}")
    parts.append(f"Previous actions:\n{history}")
    parts.append(f"Current observation:\n{observation}")
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n\n".join(parts)}]


def recorded_observation(step: Mapping[str, Any]) -> str:
    """The observation as the agent was shown it at a recorded step (`steps.prompt_observation`); for steps
    recorded before lbi kept it, rebuilt from the stored text (URL and the text cut at `OBS_CHARS`)."""
    if step.get("prompt_observation") is not None:
        return step["prompt_observation"]
    text = clip(step.get("observation") or "")
    return f"URL: {step['url']}\n{text}" if step.get("url") else text


def example_text(instruction: str, steps: Sequence[Mapping[str, Any]], max_chars: int) -> str:
    """A retrieved example in the agent's own format: the task as the agent's turn names it, then per step the
    observation as the agent was shown it (`recorded_observation`) and the reply it wrote (`reply_text`), so
    the agent sees exactly what to read and what to write. Fitted to `max_chars` by cutting the observations
    evenly (to `MIN_OBS_CHARS` at least), never the task or the replies."""
    replies = [reply_text(s.get("reasoning") or "", s.get("action") or "") for s in steps]
    fixed = len(f"Task: {instruction}") + sum(len(f"\nObservation:\n{TRUNCATED}\nReply: {r}") for r in replies)
    share = min(OBS_CHARS, max(MIN_OBS_CHARS, (max_chars - fixed) // max(len(steps), 1)))
    parts = [f"Task: {instruction}"]
    for step, reply in zip(steps, replies, strict=True):
        parts.append(f"Observation:\n{clip(recorded_observation(step), share)}\nReply: {reply}")
    return "\n".join(parts)


def fill_messages(env_description: str, page_title: str | None, field_name: str) -> list[dict[str, str]]:
    """The explore policy asks for text a user would type into a field."""
    return [
        {
            "role": "user",
            "content": (
                f"Environment: {env_description}\nPage: {page_title}\n"
                f"Write short realistic text a user would type into the field '{field_name}'."
            ),
        }
    ]


# -- retrieval ---------------------------------------------------------------------------------------------
def query_messages(instruction: str, history: str, observation: str | None) -> list[dict[str, str]]:
    """Model-based retrieval: the model writes a search query for examples of the next step."""
    return [
        {
            "role": "user",
            "content": (
                f"Task: {instruction}\nPrevious actions:\n{history}\n\n"
                f"Current observation:\n{observation or '(start)'}\n\n"
                "Write a short search query to find examples of how to do the next step of this task."
            ),
        }
    ]


# -- task generation, backward construction, judges ----------------------------------------------------------
def generation_messages(
    chunk_title: str, chunk_text: str, env_description: str, seeds: Sequence[str], n: int
) -> list[dict[str, str]]:
    seed_lines = "\n".join(f"- {s}" for s in seeds) or "- (none)"
    return [
        {
            "role": "system",
            "content": "You write realistic tasks that a user could ask an assistant to carry "
            "out in a software environment.",
        },
        {
            "role": "user",
            "content": (
                f"Environment: {env_description}\n\nExamples of tasks:\n{seed_lines}\n\n"
                f"Documentation ({chunk_title}):\n{chunk_text[:2500]}\n\n"
                f"Write {n} different tasks that can be carried out in this environment using what this "
                "documentation describes. Each task is one specific, self-contained instruction."
            ),
        },
    ]


def render_steps(
    steps: Sequence[dict[str, Any]],
    first_index: int = 0,
    obs_chars: int = STEP_OBS_CHARS,
    chrome: frozenset[str] = frozenset(),
) -> str:
    """Steps as the backward constructor and judges see them: the page (path), what is on it without the
    site's chrome, the action with the element it acted on, and the error if any. The observations share
    `OBS_BUDGET` characters, so a long span shows less of each page and the prompt stays bounded."""
    per_step = max(MIN_OBS_CHARS, min(obs_chars, OBS_BUDGET // max(len(steps), 1)))
    lines = []
    for offset, step in enumerate(steps):
        index = first_index + offset
        obs = step.get("observation") or ""
        page = place(step.get("url") or "")
        lines.append(
            f"Step {index}:{f' page {page}' if page else ''}\n"
            f"  observation: {page_content(obs, chrome, per_step)}\n"
            f"  action: {describe_action(step.get('action'), obs)}"
            + (f"\n  error: {step['error']}" if step.get("error") else "")
        )
    return "\n".join(lines)


def span_messages(
    steps: Sequence[dict[str, Any]], start: int, env_description: str, chrome: frozenset[str] = frozenset()
) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": "You label agent trajectories with the instruction they carry out."},
        {
            "role": "user",
            "content": (
                f"Environment: {env_description}\n\n{render_steps(steps, start, chrome=chrome)}\n\n"
                "What task do these steps accomplish, as a user would ask it? Write one specific instruction."
            ),
        },
    ]


def batched_messages(
    steps: Sequence[dict[str, Any]],
    start: int,
    spans: Sequence[tuple[int, int]],
    env_description: str,
    chrome: frozenset[str] = frozenset(),
) -> list[dict[str, str]]:
    """One prompt for many spans of the same steps (`steps[0]` is step `start`). The spans are named once,
    by the reply's fields (the schema hint shows them), not listed again in the prompt."""
    i, j = spans[0]
    return [
        {"role": "system", "content": "You write the requests users gave to a software agent."},
        {
            "role": "user",
            "content": (
                f"Environment: {env_description}\n\n"
                f"What the agent did:\n{render_steps(steps, start, chrome=chrome)}\n\n"
                f"Each field of the reply is a part of this work ({span_key(i, j)} is steps {i} to {j}). For each, "
                "write the user's request that this part carries out: one specific, imperative sentence, as a user "
                "would type it."
            ),
        },
    ]


JUDGE_CRITERIA = {
    "accomplishment": "Do the steps actually accomplish the instruction? Keep only if the final state shows it done.",
    "instruction": "Is the instruction specific, feasible in this environment and self-contained "
    "(understandable without seeing the steps)?",
    "efficiency": "Are the steps free of pointless actions (loops, failed actions, detours) for this instruction?",
    "overall": "Keep only if the steps accomplish the instruction, the instruction is specific, feasible and "
    "self-contained, and the steps contain no pointless actions.",
}


def judge_messages(
    instruction: str,
    steps: Sequence[dict[str, Any]],
    start: int,
    focus: str,
    env_description: str,
    chrome: frozenset[str] = frozenset(),
) -> list[dict[str, str]]:
    criterion = JUDGE_CRITERIA.get(focus, JUDGE_CRITERIA["overall"])
    return [
        {"role": "system", "content": "You are a strict reviewer of training data for software agents."},
        {
            "role": "user",
            "content": (
                f"Environment: {env_description}\n\nInstruction: {instruction}\n\nSteps:\n"
                f"{render_steps(steps, start, chrome=chrome)}\n\n"
                f"Criterion: {criterion}\nGive a reason, then the verdict."
            ),
        },
    ]
