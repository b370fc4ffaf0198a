"""Retrieval for in-context learning: agentic retrieval (the paper's Algorithm 2) and baselines.

Modes:
- `baseline`: no examples;
- `docs-rag`: conventional RAG, the doc chunks closest to the instruction;
- `examples-rag`: plain RAG over kept examples by the instruction alone;
- `agentic`: at every step, (a) observation-based — synthesized steps taken in the same state
  (equal state signature) or with the closest observation text, with the action taken there and
  the instruction it served; (b) model-based — the model writes a search query from instruction,
  history and observation, and the index returns the closest examples (whole trajectories) and
  single steps. Merged (the two parts alternating, so both reach the prompt when the budget holds
  few), deduplicated, and fitted into a token budget.

Examples and steps are shown in the agent's own format (`lbi.prompts.messages.example_text`): the task, then per
step the observation as the agent was shown it and the JSON reply it wrote. Each hit gets at most a
quarter of the budget (`HIT_SHARE`), its observations cut evenly to fit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from lbi.agent import History
from lbi.envs.base import Observation
from lbi.envs.tasks import Task
from lbi.errors import NotFoundError, OutputParseError, check_choice
from lbi.models.embed import embed
from lbi.project import Project, task_from_row
from lbi.prompts.messages import example_text, observation_text, query_messages
from lbi.prompts.replies import SearchQuery
from lbi.store import read
from lbi.use.index import Index

MODES = ("baseline", "docs-rag", "examples-rag", "agentic")
CHARS_PER_TOKEN = 4
HIT_SHARE = 4
"""A retrieved example or step is rendered in at most 1/HIT_SHARE of the token budget, so several fit."""


@dataclass
class Hit:
    kind: str  # "example", "step" or "doc"
    key: str
    source: str  # "observation", "model", "instruction"
    text: str
    score: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class RetrievalResult:
    mode: str
    query: str = ""
    observation_hits: list[Hit] = field(default_factory=list)
    model_hits: list[Hit] = field(default_factory=list)
    instruction_hits: list[Hit] = field(default_factory=list)
    used: list[Hit] = field(default_factory=list)
    rendered: str = ""

    @property
    def tokens(self) -> int:
        return approx_tokens(self.rendered)


def approx_tokens(text: str) -> int:
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def fit_budget(hits: list[Hit], budget_tokens: int) -> tuple[list[Hit], str]:
    """Deduplicate by key, keep order, and stop before the rendered block exceeds the budget."""
    seen: set[str] = set()
    used: list[Hit] = []
    blocks: list[str] = []
    total = 0
    for hit in hits:
        if hit.key in seen:
            continue
        cost = approx_tokens(hit.text) + 2
        if total + cost > budget_tokens:
            continue
        seen.add(hit.key)
        used.append(hit)
        blocks.append(hit.text)
        total += cost
    return used, "\n\n".join(blocks)


class Retriever:
    """Callable as the agent loop's `examples` hook: (task, obs, history) -> prompt text."""

    def __init__(
        self, project: Project, mode: str, *, index: Index | None = None, llm: Any = None, run_id: int | None = None
    ) -> None:
        check_choice("retrieval mode", mode, MODES)
        self.project = project
        self.mode = mode
        self.cfg = project.config.retrieval
        self.index = index if index is not None or mode == "baseline" else Index(project)
        self.llm = llm or project.llm(run_id)
        self.last: RetrievalResult | None = None

    def __call__(self, task: Task, obs: Observation, history: History) -> str:
        self.last = self.retrieve(task.instruction, obs, history)
        return self.last.rendered

    @property
    def _searched(self) -> Index:
        """The index the search methods read (a baseline retriever made without one has none)."""
        if self.index is None:
            raise RuntimeError("a baseline retriever has no index to search")
        return self.index

    # -- the parts ---------------------------------------------------------------------
    def retrieve(
        self, instruction: str, obs: Observation | None = None, history: History | None = None
    ) -> RetrievalResult:
        result = RetrievalResult(mode=self.mode)
        if self.mode == "baseline" or self.index is None:
            return result
        if self.mode == "docs-rag":
            result.instruction_hits = self.docs(instruction)
        elif self.mode == "examples-rag":
            result.instruction_hits = self.examples(instruction, "instruction")
        else:
            if self.cfg.observation_based and obs is not None:
                result.observation_hits = self.by_observation(obs)
            if self.cfg.model_based:
                result.query = self.write_query(instruction, obs, history or History())
                result.model_hits = self.by_query(result.query)
        hits = interleave(result.observation_hits, result.model_hits) + result.instruction_hits
        result.used, result.rendered = fit_budget(hits, self.cfg.token_budget)
        return result

    def by_observation(self, obs: Observation) -> list[Hit]:
        """Steps taken in the same state (equal signature) first, then the closest observations."""
        k = self.cfg.k
        same = self._searched.steps_in_state(obs.state_signature, k) if obs.state_signature else None
        found = [(i, m, 1.0) for i, m in zip(same["ids"], same["metadatas"], strict=True)] if same else []
        seen = {key for key, _, _ in found}
        for hit in self._searched.search("steps", self._searched.observation_text(obs.text), k):
            if hit["id"] not in seen:
                found.append((hit["id"], hit["metadata"], 1 - hit["distance"]))
        return self._step_hits(found[: 2 * k], "observation")

    def by_query(self, query: str, source: str = "model") -> list[Hit]:
        """Closest whole examples, then closest single steps, for one query (embedded once)."""
        vector = embed([query], self.project.config.models.embedder)[0]
        return self.examples(query, source, vector) + self.steps_like(query, source, vector)

    def steps_like(self, text: str, source: str, vector: Any = None) -> list[Hit]:
        return self._step_hits(
            [
                (h["id"], h["metadata"], 1 - h["distance"])
                for h in self._searched.search("steps", text, self.cfg.k, embedding=vector)
            ],
            source,
        )

    def examples(self, text: str, source: str, vector: Any = None) -> list[Hit]:
        hits = []
        for h in self._searched.search("examples", text, self.cfg.k, embedding=vector):
            meta = h["metadata"]
            steps = read.steps(self.project.store, meta["trajectory_id"], meta["span_start"], meta["span_end"])
            if steps:  # an example whose trajectory is gone from the store (a stale index) is not shown
                hits.append(
                    Hit(
                        "example",
                        h["id"],
                        source,
                        example_text(h["document"], steps, self.hit_chars),
                        1 - h["distance"],
                        meta,
                    )
                )
        return hits

    def docs(self, text: str) -> list[Hit]:
        return [
            Hit(
                "doc",
                h["id"],
                "instruction",
                f"Documentation ({h['metadata']['title']}):\n{h['document']}",
                1 - h["distance"],
                h["metadata"],
            )
            for h in self._searched.search("chunks", text, self.cfg.k)
        ]

    def write_query(self, instruction: str, obs: Observation | None, history: History) -> str:
        messages = query_messages(instruction, history.render(), observation_text(obs) if obs else None)
        try:
            reply = self.llm.complete(messages, role="agent", purpose="retrieval-query", schema=SearchQuery)
        except OutputParseError as exc:
            self.llm.record_failure("retrieval-query", exc, item=instruction[:200])
            return instruction
        return reply.parsed.query.strip() or instruction

    # -- helpers -----------------------------------------------------------------------
    @property
    def hit_chars(self) -> int:
        return self.cfg.token_budget * CHARS_PER_TOKEN // HIT_SHARE

    def _step_hits(self, found: list[tuple[str, dict[str, Any], float]], source: str) -> list[Hit]:
        """Indexed steps (key, metadata, score) as one-step examples under the instruction of the kept example
        around them; steps gone from the store (a stale index) are left out."""
        rows = read.steps_by_id(self.project.store, [meta["step_id"] for _, meta, _ in found])
        return [
            Hit(
                "step",
                key,
                source,
                example_text(meta.get("instruction") or "", [rows[meta["step_id"]]], self.hit_chars),
                score,
                meta,
            )
            for key, meta, score in found
            if meta["step_id"] in rows
        ]


def interleave(first: list[Hit], second: list[Hit]) -> list[Hit]:
    """first[0], second[0], first[1], second[1], ...; the longer list's rest at the end."""
    merged = [hit for pair in zip(first, second, strict=False) for hit in pair]
    shorter = min(len(first), len(second))
    return merged + first[shorter:] + second[shorter:]


def describe(result: RetrievalResult) -> dict[str, Any]:
    """A JSON-able summary for the CLI and the Retrieval lab."""

    def rows(hits: list[Hit]) -> list[dict[str, Any]]:
        return [{"kind": h.kind, "source": h.source, "score": round(h.score, 3), "text": h.text} for h in hits]

    return json.loads(
        json.dumps(
            {
                "mode": result.mode,
                "query": result.query,
                "tokens": result.tokens,
                "observation": rows(result.observation_hits),
                "model": rows(result.model_hits),
                "instruction": rows(result.instruction_hits),
                "used": len(result.used),
            },
            default=str,
        )
    )


def compare(project: Project, instruction: str, modes: list[str], task_id: str | None = None) -> dict[str, Any]:
    """Every mode's retrieval for one instruction at the start state of the environment (or of a task)."""
    for mode in modes:
        check_choice("retrieval mode", mode, MODES)
    if task_id and project.task(task_id) is None:
        raise NotFoundError(f"no task {task_id!r} in this project: see `lbi tasks list`")
    start = (project.task(task_id) if task_id else None) or task_from_row(
        {"id": "query", "instruction": instruction, "env": project.config.env.name}
    )
    index = Index(project)
    index.sync()
    with project.make_env() as env:
        obs = env.reset(start)
        results = {
            mode: describe(Retriever(project, mode, index=index).retrieve(instruction, obs, History()))
            for mode in modes
        }
    return {
        "instruction": instruction,
        "task": task_id,
        "observation": {"url": obs.url, "title": obs.title, "state_signature": obs.state_signature},
        "index": index.counts(),
        "results": results,
    }
