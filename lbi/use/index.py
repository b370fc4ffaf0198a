"""The chromadb index of a project: kept examples, their steps, and doc chunks.

Embeddings come from the packaged all-MiniLM-L6-v2 through a registered embedding function
(never chroma's downloading default). `sync` is incremental: it adds what is new and removes
what is no longer kept (an override to drop takes an example out of the index). It runs the leakage check on
what is new first (`lbi.synth.leakage`): a flagged example is not kept, a flagged doc chunk is not indexed, until
a person allows it.

Steps are indexed by their page content without the site's chrome (`lbi.observations`): the chrome
is learned from the store at the first sync that has enough pages, kept in `index/chrome.json`, and
used for stored steps and queries alike.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import chromadb
from chromadb.api.types import Documents, Embeddable, EmbeddingFunction, Embeddings
from chromadb.config import Settings
from chromadb.utils.embedding_functions import register_embedding_function

from lbi.models.embed import DEFAULT_EMBEDDER, embed
from lbi.observations import page_content
from lbi.project import Project
from lbi.store import committee, leaks, read
from lbi.synth import trust
from lbi.synth.leakage import refresh

STEP_CHARS = 500  # of page content, chrome removed: MiniLM reads ~256 tokens, and time grows with length
BATCH = 2000


@register_embedding_function
class MiniLMEmbedding(EmbeddingFunction[Documents]):
    """Sentence-transformers embeddings from the packaged model (offline)."""

    def __init__(self, model: str = DEFAULT_EMBEDDER) -> None:
        self.model = model

    def __call__(self, input: Documents) -> Embeddings:  # noqa: A002 - chromadb's signature
        return list(embed(list(input), self.model))

    @staticmethod
    def name() -> str:
        return "lbi-minilm"

    def get_config(self) -> dict[str, Any]:
        return {"model": self.model}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> MiniLMEmbedding:
        return MiniLMEmbedding(config.get("model", DEFAULT_EMBEDDER))


@dataclass
class SyncReport:
    examples_added: int = 0
    examples_removed: int = 0
    steps_added: int = 0
    steps_removed: int = 0
    chunks_added: int = 0
    chunks_removed: int = 0

    def summary(self) -> str:
        return (
            f"examples +{self.examples_added} -{self.examples_removed}, steps +{self.steps_added} "
            f"-{self.steps_removed}, chunks +{self.chunks_added} -{self.chunks_removed}"
        )


class Index:
    """Collections `examples` (by instruction), `steps` (by observation text), `chunks` (doc text)."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.path = Path(project.dir) / "index"
        self.client = chromadb.PersistentClient(path=str(self.path), settings=Settings(anonymized_telemetry=False))
        # chromadb types a collection's function as taking images too, so a text-only one never fits its stub
        # (chroma-core/chroma#5241, open); chromadb itself only calls it with documents here.
        fn: EmbeddingFunction[Embeddable] = MiniLMEmbedding(project.config.models.embedder)  # type: ignore[assignment]
        meta = {"hnsw:space": "cosine"}
        self.examples = self.client.get_or_create_collection("examples", embedding_function=fn, metadata=meta)
        self.steps = self.client.get_or_create_collection("steps", embedding_function=fn, metadata=meta)
        self.chunks = self.client.get_or_create_collection("chunks", embedding_function=fn, metadata=meta)

        self._chrome_file = self.path / "chrome.json"
        self.chrome: frozenset[str] = frozenset(
            json.loads(self._chrome_file.read_text()) if self._chrome_file.exists() else []
        )

    def counts(self) -> dict[str, int]:
        return {"examples": self.examples.count(), "steps": self.steps.count(), "chunks": self.chunks.count()}

    def observation_text(self, observation: str | None) -> str:
        """What of an observation is embedded, for stored steps and queries alike."""
        return page_content(observation, self.chrome, STEP_CHARS) or "(empty)"

    def _learn_chrome(self) -> None:
        """Learn the chrome once, when the store first has enough pages; steps embedded before are redone."""
        if self.chrome:
            return
        chrome = read.page_chrome(self.project.store)
        if chrome:
            self._chrome_file.write_text(json.dumps(sorted(chrome)))
            self.chrome = chrome
            self._remove(self.steps, sorted(self._ids(self.steps)))

    # -- sync --------------------------------------------------------------------------
    def sync(self, policy: str | None = None) -> SyncReport:
        cfg = self.project.config
        refresh(self.project, ("example", "chunk"))
        kept = set(committee.kept_ids(self.project.store, policy or cfg.synth.judge_policy, trust.voters(cfg)))
        report = SyncReport()
        report.examples_added, report.examples_removed = self._sync_examples(kept)
        self._learn_chrome()
        report.steps_added, report.steps_removed = self._sync_steps(kept)
        report.chunks_added, report.chunks_removed = self._sync_chunks()
        return report

    @staticmethod
    def _ids(collection: Any) -> set[str]:
        return set(collection.get(include=[])["ids"])

    def _add(self, collection: Any, ids: list[str], docs: list[str], metas: list[dict[str, Any]]) -> None:
        for start in range(0, len(ids), BATCH):
            collection.add(
                ids=ids[start : start + BATCH],
                documents=docs[start : start + BATCH],
                metadatas=metas[start : start + BATCH],
            )

    def _remove(self, collection: Any, ids: list[str]) -> None:
        for start in range(0, len(ids), BATCH):
            collection.delete(ids=ids[start : start + BATCH])

    def _sync_examples(self, kept: set[int]) -> tuple[int, int]:
        have = self._ids(self.examples)
        want = {f"ex-{i}" for i in kept}
        stale = sorted(have - want)
        self._remove(self.examples, stale)
        new = sorted(int(i[3:]) for i in want - have)
        rows = self._example_rows(new)
        self._add(
            self.examples,
            [f"ex-{r['id']}" for r in rows],
            [r["instruction"] for r in rows],
            [
                {
                    "example_id": r["id"],
                    "trajectory_id": r["trajectory_id"],
                    "span_start": r["span_start"],
                    "span_end": r["span_end"],
                    "mode": r["mode"],
                    "env": r["env"] or "",
                }
                for r in rows
            ],
        )
        return len(rows), len(stale)

    def _example_rows(self, ids: list[int]) -> list[dict[str, Any]]:
        if not ids:
            return []
        return [
            dict(r)
            for r in self.project.store.query(
                "SELECT e.id, e.trajectory_id, e.span_start, e.span_end, e.mode, e.instruction, t.env FROM examples e "
                "JOIN trajectories t ON t.id = e.trajectory_id WHERE e.id IN (SELECT value FROM json_each(?))",
                (json.dumps(ids),),
            )
        ]

    def _covered_steps(self, kept: set[int]) -> dict[int, dict[str, Any]]:
        """Each step inside a kept example, with the instruction of the longest kept span covering it."""
        if not kept:
            return {}
        rows = self.project.store.query(
            "SELECT s.id, s.idx, s.trajectory_id, s.observation, s.action, s.state_signature, s.url, "
            "e.instruction, e.id AS example_id, e.span_end - e.span_start AS width FROM examples e "
            "JOIN steps s ON s.trajectory_id = e.trajectory_id AND s.idx BETWEEN e.span_start AND e.span_end "
            "WHERE e.id IN (SELECT value FROM json_each(?)) ORDER BY width",
            (json.dumps(sorted(kept)),),
        )
        return {r["id"]: dict(r) for r in rows}  # wider spans come later and win

    def _sync_steps(self, kept: set[int]) -> tuple[int, int]:
        covered = self._covered_steps(kept)
        have = self._ids(self.steps)
        want = {f"st-{i}" for i in covered}
        stale = sorted(have - want)
        self._remove(self.steps, stale)
        new = [covered[int(i[3:])] for i in sorted(want - have)]
        self._add(
            self.steps,
            [f"st-{r['id']}" for r in new],
            [self.observation_text(r["observation"]) for r in new],
            [
                {
                    "step_id": r["id"],
                    "trajectory_id": r["trajectory_id"],
                    "idx": r["idx"],
                    "action": r["action"] or "",
                    "state_signature": r["state_signature"] or "",
                    "instruction": r["instruction"],
                    "example_id": r["example_id"],
                    "url": r["url"] or "",
                }
                for r in new
            ],
        )
        return len(new), len(stale)

    def _sync_chunks(self) -> tuple[int, int]:
        have = self._ids(self.chunks)
        blocked = leaks.blocked(self.project.store, "chunk")
        want = {f"ch-{r[0]}" for r in self.project.store.query("SELECT id FROM chunks") if r[0] not in blocked}
        stale = sorted(have - want)
        self._remove(self.chunks, stale)
        new = sorted(i[3:] for i in want - have)
        rows = (
            [
                dict(r)
                for r in self.project.store.query(
                    "SELECT id, title, text FROM chunks WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id",
                    (json.dumps(new),),
                )
            ]
            if new
            else []
        )
        self._add(
            self.chunks,
            [f"ch-{r['id']}" for r in rows],
            [r["text"] for r in rows],
            [{"chunk_id": r["id"], "title": r["title"] or ""} for r in rows],
        )
        return len(rows), len(stale)

    # -- queries -----------------------------------------------------------------------
    def steps_in_state(self, signature: str, k: int) -> dict[str, Any]:
        """Indexed steps taken in the state with this signature (SQLite's index finds them, the
        collection says which are indexed, i.e. inside kept examples), newest first. The collection is
        asked a page at a time: a state seen thousands of times costs one small lookup, not one of 500 ids."""
        rows = self.project.store.query(
            "SELECT id FROM steps WHERE state_signature = ? ORDER BY id DESC LIMIT 500", (signature,)
        )
        wanted = [f"st-{r[0]}" for r in rows]
        meta_of: dict[str, Any] = {}  # indexed steps among those asked so far
        page = max(4 * k, 16)
        for start in range(0, len(wanted), page):
            found = self.steps.get(ids=wanted[start : start + page], include=["metadatas"])
            meta_of.update(zip(found["ids"], found["metadatas"] or [], strict=True))
            if len(meta_of) >= k:
                break
        ids = [key for key in wanted if key in meta_of][:k]
        return {"ids": ids, "metadatas": [meta_of[key] for key in ids]}

    def search(
        self, collection: str, text: str, k: int, where: dict[str, Any] | None = None, embedding: Any = None
    ) -> list[dict[str, Any]]:
        """Top-k hits: {id, document, metadata, distance}; [] on an empty collection. Pass `embedding`
        (of `text`) to search several collections with one embedding."""
        coll = getattr(self, collection)
        count = coll.count()
        if count == 0 or not text.strip():
            return []
        query = {"query_embeddings": [embedding]} if embedding is not None else {"query_texts": [text]}
        res = coll.query(**query, n_results=min(k, count), where=where)
        return [
            {"id": i, "document": d, "metadata": m, "distance": float(dist)}
            for i, d, m, dist in zip(
                res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0], strict=True
            )
        ]
