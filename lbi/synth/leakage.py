"""Leakage by content: what synthesis made and read, compared with the held-out tasks it must not teach.

Where data came from is checked elsewhere (`lbi.store.read.TRAINABLE`: never a held-out task's or an evaluation's
trajectory). This module checks what it *says*:

* **held-out side** (`heldout_material`): each held-out task's instruction (a BrowserGym task's is only a label:
  the goals its evaluation episodes were given at reset are used instead — except for a seeded task, whose goal
  is a template's text, the same over every seed: there the held-out thing is the (task, seed), its page, which
  the `seed` measure checks; on the MiniWoB++ run of issue 27, comparing goal texts kept 98 of 257 synthetic-seed
  examples out of training, every one a correct example of a task type on another page), its literals (numbers
  and quoted values), and its expected answers — the values its check states (`answer`'s `expected`, `db_query`'s
  expected rows, `sql_result`'s `rows`, a sheet's cells; not a regex), plus the text its reference solution gives in
  `stop(...)`/`send_msg_to_user(...)` when its check asks for an answer. An answer made only of the instruction's
  own words (a write task's value: "Add a component named 'mobile'...") is no secret and is left out. A check
  that computes its answer at run time (an `sql_result` query) states none to compare.
* **synthesized side** (`lbi.store.leaks.KINDS`): every example's instruction and answer (the text of a
  `stop`/`send_msg_to_user` in its span), every synthetic task's instruction (task generation's output), and
  every doc chunk (what task generation and docs retrieval read).

The measures (`lbi.synth.overlap`) and their thresholds (`RULES`). Calibrated on the bundled held-out sets (SQL 33,
Trac 33, desktop 24 tasks): two *different* held-out tasks reach at most 0.67 n-gram containment (sql-001 "How many
tickets are there in total?" in sql-005 "How many tickets are closed?") and 0.894 cosine (sql-005 and sql-020), so
the thresholds sit above what distinct questions reach; a one-value change ("...priority 'blocker'" →
"'critical'", cosine 0.81, containment 0.86) is told apart by the literals:

* `ngram` ≥ 0.8: that share of the held-out instruction's word 3-grams is in the text, and so are its literals;
* `embedding` ≥ 0.9: cosine similarity of an instruction (for a chunk: of its most similar sentence) to the
  held-out instruction, the literals in the text too. Paraphrases below 0.9 ("Find carol's email address." for
  "What is the e-mail address of the user carol?", 0.82) pass unflagged unless another measure catches them;
* `answer` ≥ 0.75: a held-out answer occurs in the text with that share of its question's content words within
  12 tokens of it (`overlap.answer_in_context`): the SQL demo's schema page stating "`frontend` (bob)" under
  "`owner` is the default owner of new tickets of the component" is sql-003's answer in context (1.0);
* `seed`: an example whose trajectory ran a held-out BrowserGym (task, seed) — the page it saw is the held-out one —
  or a synthetic task on one (`lbi tasks import --browsergym` refuses to make such a task; a store may hold one).

`refresh` checks what is new or changed since the last check (each item's digest covers its text, the held-out
material and `RULES`) and records the result through the store's writer; `lbi.store.leaks` reads it, and every
reader of kept examples (training, export, the index) and of chunks (task generation, the docs index) leaves
a flagged item out until a person allows it (`lbi leakage allow`).
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel

from lbi.envs.base import CheckSpec, Task
from lbi.models.embed import embed
from lbi.project import Project, task_from_row
from lbi.store import leaks
from lbi.synth.overlap import answer_in_context, containment, positions, tokens

Progress = Callable[[int, int], None]


class Rules(BaseModel, frozen=True):
    """The thresholds of the check (see the module's docstring for how they were chosen)."""

    ngram: float = 0.8
    """Flag when at least this share of a held-out instruction's word n-grams is in the text."""
    n: int = 3
    """The n of the n-grams."""
    embedding: float = 0.9
    """Flag when an instruction (a chunk's sentence) has at least this cosine similarity to a held-out one."""
    answer: float = 0.75
    """Flag when a held-out answer occurs with at least this share of its question's content words nearby."""
    window: int = 12
    """How near (in tokens, either side of the answer) the question's words must stand."""


RULES = Rules()
MESSAGE_ACTIONS = ("stop", "send_msg_to_user")
_QUOTED = re.compile(r"""(?<!\w)(?:'([^']+)'|"([^"]+)"|`([^`]+)`)(?!\w)""")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


class Heldout(BaseModel):
    """What a held-out task must not find in the training material."""

    id: str
    instructions: list[str]
    answers: list[str] = []
    seed: tuple[str, int] | None = None


class Hit(BaseModel):
    """One resemblance: the held-out task, the measure (`ngram`, `embedding`, `answer`, `seed`), its score, and the
    text that resembles it."""

    heldout: str
    measure: str
    score: float
    excerpt: str = ""


@dataclass
class Item:
    """One thing checked: its id, the instruction (a chunk's text), an answer, the (task, seed) it ran on."""

    id: str
    text: str
    answer: str = ""
    seed: tuple[str, int] | None = None
    sentences: list[str] = field(default_factory=list)


@dataclass
class RefreshReport:
    checked: dict[str, int] = field(default_factory=dict)
    flagged: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        return ", ".join(
            f"{kind} {self.checked.get(kind, 0)} checked, {self.flagged.get(kind, 0)} flagged" for kind in leaks.KINDS
        )


# -- the held-out side --------------------------------------------------------------------------
def literals(text: str) -> set[str]:
    """The tokens of `text` that name a value: numbers (any token with a digit) and quoted words."""
    quoted = {t for m in _QUOTED.finditer(text) for t in tokens(next(g for g in m.groups() if g))}
    return quoted | {t for t in tokens(text) if any(c.isdigit() for c in t)}


def _values(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            if key != "formula":
                yield from _values(inner)
    elif isinstance(value, (list, tuple)):
        for inner in value:
            yield from _values(inner)
    elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
        yield str(value)


def check_answers(spec: CheckSpec) -> list[str]:
    """The values a check states as its expected answer (nested `all`/`any` checks too); none for a regex."""
    p = spec.params
    if spec.kind in ("all", "any"):
        return [a for inner in p.get("checks", []) for a in check_answers(CheckSpec.model_validate(inner))]
    if spec.kind == "answer" and p.get("match") != "regex":
        return list(_values(p.get("expected")))
    if spec.kind in ("db_query", "sql_result"):
        return list(_values(p.get("expected", p.get("rows"))))
    if spec.kind == "sheet":
        return list(_values([p.get("cells", {}), p.get("ranges", {})]))
    return []


def _asks_answer(spec: CheckSpec) -> bool:
    if spec.kind in ("all", "any"):
        return any(_asks_answer(CheckSpec.model_validate(c)) for c in spec.params.get("checks", []))
    return spec.kind == "answer"


def message_text(action: str | None) -> str:
    """The text of a `stop(...)` or `send_msg_to_user(...)` action ('' for any other action)."""
    if not action or not action.lstrip().startswith(MESSAGE_ACTIONS):
        return ""
    try:
        node = ast.parse(action.strip(), mode="eval").body
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in MESSAGE_ACTIONS:
            values = [*node.args, *(k.value for k in node.keywords)]
            return str(ast.literal_eval(values[0])) if values else ""
    except (SyntaxError, ValueError):
        return ""
    return ""


def task_answers(task: Task) -> list[str]:
    """A held-out task's expected answers that are not already words of its instruction."""
    found = check_answers(task.check)
    if _asks_answer(task.check):
        found += [message_text(a) for a in task.reference]
    own = set(tokens(task.instruction))
    out: list[str] = []
    for answer in found:
        words = tokens(answer)
        if words and not set(words) <= own and answer not in out:
            out.append(answer)
    return out


def heldout_material(project: Project) -> list[Heldout]:
    """Every held-out task of the store as what it must not find: instructions, answers, (task, seed)."""
    goals: dict[str, list[str]] = {}
    for row in project.store.query(
        "SELECT task_id, config_json FROM trajectories WHERE task_id IN (SELECT id FROM tasks WHERE split = 'heldout')"
    ):
        goal = json.loads(row["config_json"] or "{}").get("goal")
        if goal and goal not in goals.setdefault(row["task_id"], []):
            goals[row["task_id"]].append(goal)
    out = []
    for row in project.store.query(
        "SELECT id, instruction, env, spec_json FROM tasks WHERE split = 'heldout' ORDER BY id"
    ):
        task = task_from_row(dict(row))
        seed = (
            (str(task.start["task"]), int(task.start["seed"]))
            if task.start.get("task") and "seed" in task.start
            else None
        )
        # A seeded benchmark task (its goal stated at reset) is its (task, seed): its goal is a template's text, the
        # same over every seed ("Click the button." on each page of miniwob.click-test), so a synthetic seed's
        # example saying it is that task's training material, not a held-out page; only the seed is checked.
        instructions = [] if task.goal_at_reset else [task.instruction]
        if seed is None:
            instructions += [g for g in goals.get(task.id, []) if g not in instructions]
        out.append(Heldout(id=task.id, instructions=instructions, answers=task_answers(task), seed=seed))
    return out


# -- the synthesized side -----------------------------------------------------------------------
def sentences(text: str) -> list[str]:
    """A chunk's sentences and lines of at least three words (what its embedding is compared by)."""
    return [s.strip() for s in _SENTENCE.split(text) if len(tokens(s)) >= 3]


def items(project: Project, kind: str) -> list[Item]:
    """The items of `kind` as the check reads them."""
    store = project.store
    if kind == "chunk":
        return [
            Item(id=r["id"], text=r["text"], sentences=sentences(r["text"]))
            for r in store.query("SELECT id, text FROM chunks ORDER BY id")
        ]
    if kind == "task":
        out = []
        for r in store.query("SELECT id, instruction, spec_json FROM tasks WHERE split = 'synthetic' ORDER BY id"):
            start = json.loads(r["spec_json"] or "{}").get("start", {})
            seed = (str(start["task"]), int(start["seed"])) if start.get("task") and "seed" in start else None
            out.append(Item(id=r["id"], text=r["instruction"], seed=seed))
        return out
    answers: dict[int, list[str]] = {}
    for r in store.query(
        "SELECT e.id, s.action FROM examples e JOIN steps s ON s.trajectory_id = e.trajectory_id "
        "AND s.idx BETWEEN e.span_start AND e.span_end WHERE s.action LIKE 'stop(%' OR "
        "s.action LIKE 'send_msg_to_user(%' ORDER BY e.id, s.idx"
    ):
        if text := message_text(r["action"]):
            answers.setdefault(r["id"], []).append(text)
    out = []
    for r in store.query(
        "SELECT e.id, e.instruction, t.config_json FROM examples e JOIN trajectories t ON "
        "t.id = e.trajectory_id ORDER BY e.id"
    ):
        config = json.loads(r["config_json"] or "{}")
        seed = (str(config["env_task"]), int(config["seed"])) if config.get("env_task") and "seed" in config else None
        out.append(Item(id=str(r["id"]), text=r["instruction"], answer=" ".join(answers.get(r["id"], [])), seed=seed))
    return out


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _norm(text: str) -> str:
    """An instruction as the committee's near-duplicate check embeds it (so its stored vectors are reused)."""
    return " ".join(text.lower().split())


# -- the check ----------------------------------------------------------------------------------
class Checker:
    """The held-out material with its embeddings, ready to check items against."""

    def __init__(self, heldout: Sequence[Heldout], embedder: str, rules: Rules = RULES) -> None:
        self.heldout, self.embedder, self.rules = list(heldout), embedder, rules
        self.pairs = [(h, text) for h in self.heldout for text in h.instructions]
        self.literals = [literals(text) for _, text in self.pairs]
        self.seeds = {h.seed: h.id for h in self.heldout if h.seed}
        self._vectors: np.ndarray | None = None

    @property
    def vectors(self) -> np.ndarray:
        if self._vectors is None:
            self._vectors = embed([_norm(t) for _, t in self.pairs], self.embedder)
        return self._vectors

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return embed([_norm(t) for t in texts], self.embedder)

    def check(self, item: Item, kind: str, vectors: np.ndarray | None = None) -> list[Hit]:
        """The hits of one item; `vectors`: the embeddings of its instruction (one row) or of its sentences."""
        hits: list[Hit] = []
        if item.seed is not None and item.seed in self.seeds:
            hits.append(
                Hit(heldout=self.seeds[item.seed], measure="seed", score=1.0, excerpt=f"{item.seed[0]}@{item.seed[1]}")
            )
        text_tokens = tokens(item.text)
        have = set(text_tokens)
        grams: dict[int, set[tuple[str, ...]]] = {}
        for k, (h, instruction) in enumerate(self.pairs):
            named = self.literals[k] <= have
            score = containment(instruction, item.text, self.rules.n, text_tokens=text_tokens, grams=grams)
            if named and score >= self.rules.ngram:
                hits.append(Hit(heldout=h.id, measure="ngram", score=round(score, 3), excerpt=instruction))
            if vectors is not None and len(vectors):
                sims = vectors @ self.vectors[k]
                best = int(np.argmax(sims))
                close = item.sentences[best] if kind == "chunk" else item.text
                if float(sims[best]) >= self.rules.embedding and self.literals[k] <= set(tokens(close)):
                    hits.append(
                        Hit(heldout=h.id, measure="embedding", score=round(float(sims[best]), 3), excerpt=close[:300])
                    )
        answer_tokens = tokens(f"{item.text} {item.answer}") if item.answer else text_tokens
        where = positions(answer_tokens)
        for h in self.heldout:
            for answer in h.answers:
                for question in h.instructions:
                    score, near = answer_in_context(
                        question, answer, "", window=self.rules.window, text_tokens=answer_tokens, where=where
                    )
                    if score >= self.rules.answer:
                        hits.append(
                            Hit(heldout=h.id, measure="answer", score=round(score, 3), excerpt=f"{answer!r} in: {near}")
                        )
        best_of: dict[tuple[str, str], Hit] = {}
        for hit in hits:  # one hit per (held-out task, measure): the strongest
            key = (hit.heldout, hit.measure)
            if key not in best_of or hit.score > best_of[key].score:
                best_of[key] = hit
        return list(best_of.values())


def _instruction_vectors(project: Project, checker: Checker, kind: str, todo: Sequence[Item]) -> list[np.ndarray]:
    """Each item's embeddings: one row for an instruction (an example's vector the committee stored, when it is of
    the current text), one per sentence for a chunk."""
    texts = [s for item in todo for s in item.sentences] if kind == "chunk" else [_norm(i.text) for i in todo]
    stored: dict[str, np.ndarray] = {}
    if kind == "example":
        for r in project.store.query(
            "SELECT example_id, text, vector FROM example_vectors WHERE model = ?", (checker.embedder,)
        ):
            stored[f"{r['example_id']}\n{r['text']}"] = np.frombuffer(r["vector"], dtype=np.float32)
    keys = [f"{item.id}\n{text}" for item, text in zip(todo, texts, strict=True)] if kind == "example" else []
    missing = [k for k, key in enumerate(keys or texts) if key not in stored]
    fresh = checker.embed([texts[k] for k in missing]) if missing else np.zeros((0, 384), dtype=np.float32)
    rows = dict(zip(missing, fresh, strict=True))
    flat = [rows[k] if k in rows else stored[keys[k]] for k in range(len(texts))]
    if kind != "chunk":
        return [vector[None, :] for vector in flat]
    out, at = [], 0
    for item in todo:
        out.append(np.array(flat[at : at + len(item.sentences)], dtype=np.float32).reshape(-1, 384))
        at += len(item.sentences)
    return out


def refresh(
    project: Project,
    kinds: Sequence[str] = leaks.KINDS,
    *,
    ids: Sequence[str] | None = None,
    rules: Rules = RULES,
    progress: Progress | None = None,
    batch: int = 256,
) -> RefreshReport:
    """Check every item of `kinds` (only those of `ids`, if given) that is new or changed since its last check (or
    was checked against other held-out material or rules) and record the results; return how many were checked
    and flagged. Nothing is embedded when there are no held-out tasks."""
    heldout = heldout_material(project)
    base = _digest(rules.model_dump(), [h.model_dump() for h in heldout])
    checker = Checker(heldout, project.config.models.embedder, rules)
    report = RefreshReport()
    for kind in kinds:
        leaks.check_kind(kind)
        known = leaks.digests(project.store, kind)
        wanted = None if ids is None else {str(i) for i in ids}
        todo = [
            (item, d)
            for item in items(project, kind)
            if wanted is None or item.id in wanted
            if known.get(item.id) != (d := _digest(base, item.id, item.text, item.answer, item.seed))
        ]
        report.checked[kind], report.flagged[kind] = len(todo), 0
        for start in range(0, len(todo), batch):
            part = todo[start : start + batch]
            vectors = (
                _instruction_vectors(project, checker, kind, [i for i, _ in part])
                if checker.pairs
                else [None] * len(part)
            )
            rows = []
            for (item, digest), vector in zip(part, vectors, strict=True):
                hits = checker.check(item, kind, vector) if heldout else []
                report.flagged[kind] += bool(hits)
                rows.append(
                    {"item": item.id, "digest": digest, "flagged": bool(hits), "hits": [h.model_dump() for h in hits]}
                )
            project.store.set_leak_checks(kind, rows)
            if progress:
                progress(start + len(part), len(todo))
    return report
