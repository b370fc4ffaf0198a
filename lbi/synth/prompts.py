"""Prompts and reply schemas of the synthesis stages, in one place so they can be read and tuned."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field, create_model

OBS_CHARS = 500


class TaskProposals(BaseModel):
    instructions: list[str] = Field(min_length=1, max_length=10,
                                    description="Realistic user instructions, one sentence each.")


class SpanInstruction(BaseModel):
    instruction: str = Field(description="The instruction that these steps accomplish.")


def span_key(start: int, end: int) -> str:
    return f"steps_{start}_to_{end}"


def batch_schema(start: int, ends: Sequence[int]) -> type[BaseModel]:
    """A reply schema with one required field per span end (`steps_2_to_5`), so a constrained decoder
    (llama.cpp's grammar, OpenAI's structured output) cannot leave an end out."""
    fields: dict[str, Any] = {span_key(start, j): (str, Field(description=f"instruction for steps {start}..{j}"))
                              for j in ends}
    return create_model(f"Spans{start}", **fields)


class Verdict(BaseModel):
    reason: str = Field(description="One or two sentences.")
    verdict: bool = Field(description="true to keep the example, false to drop it.")


def generation_messages(chunk_title: str, chunk_text: str, env_description: str, seeds: Sequence[str],
                        n: int) -> list[dict[str, str]]:
    seed_lines = "\n".join(f"- {s}" for s in seeds) or "- (none)"
    return [
        {"role": "system", "content": "You write realistic tasks that a user could ask an assistant to carry "
                                      "out in a software environment."},
        {"role": "user", "content": (
            f"Environment: {env_description}\n\nExamples of tasks:\n{seed_lines}\n\n"
            f"Documentation ({chunk_title}):\n{chunk_text[:2500]}\n\n"
            f"Write {n} different tasks that can be carried out in this environment using what this "
            "documentation describes. Each task is one specific, self-contained instruction.")},
    ]


def render_steps(steps: Sequence[dict[str, Any]], first_index: int = 0, obs_chars: int = OBS_CHARS) -> str:
    """Steps as the backward constructor and judges see them: observation, action, error."""
    lines = []
    for offset, step in enumerate(steps):
        index = first_index + offset
        obs = (step.get("observation") or "").strip().replace("\n", " ")[:obs_chars]
        lines.append(f"Step {index}: page {step.get('url') or '-'}\n  observation: {obs}\n"
                     f"  action: {step.get('action')}" + (f"\n  error: {step['error']}" if step.get("error") else ""))
    return "\n".join(lines)


def span_messages(steps: Sequence[dict[str, Any]], start: int, env_description: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": "You label agent trajectories with the instruction they carry out."},
        {"role": "user", "content": (
            f"Environment: {env_description}\n\n{render_steps(steps, start)}\n\n"
            "What task do these steps accomplish, as a user would ask it? Write one specific instruction.")},
    ]


def batched_messages(steps: Sequence[dict[str, Any]], start: int, ends: Sequence[int],
                     env_description: str) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": "You label agent trajectories with the instructions they carry out."},
        {"role": "user", "content": (
            f"Environment: {env_description}\n\n{render_steps(steps, start)}\n\n"
            f"For each span of steps {start}..END (END = {', '.join(map(str, ends))}), write the instruction, "
            f"as a user would ask it, that those steps accomplish. Give one field per span, named "
            f"{span_key(start, ends[0])} and so on.")},
    ]


JUDGE_CRITERIA = {
    "accomplishment": "Do the steps actually accomplish the instruction? Keep only if the final state shows it done.",
    "instruction": "Is the instruction specific, feasible in this environment and self-contained "
                   "(understandable without seeing the steps)?",
    "efficiency": "Are the steps free of pointless actions (loops, failed actions, detours) for this instruction?",
    "overall": "Keep only if the steps accomplish the instruction, the instruction is specific, feasible and "
               "self-contained, and the steps contain no pointless actions.",
}


def judge_messages(instruction: str, steps: Sequence[dict[str, Any]], start: int, focus: str,
                   env_description: str) -> list[dict[str, str]]:
    criterion = JUDGE_CRITERIA.get(focus, JUDGE_CRITERIA["overall"])
    return [
        {"role": "system", "content": "You are a strict reviewer of training data for software agents."},
        {"role": "user", "content": (
            f"Environment: {env_description}\n\nInstruction: {instruction}\n\nSteps:\n"
            f"{render_steps(steps, start)}\n\nCriterion: {criterion}\nGive a reason, then the verdict.")},
    ]
