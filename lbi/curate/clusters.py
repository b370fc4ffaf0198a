"""Clusters of instructions, so that a family of generic or copied instructions is seen (and dropped) at once.

1. Instructions are normalised (lower case, single spaces) and identical ones are clustered once.
2. Each distinct text gets a vector: `minilm` (the project's sentence embedder) takes the vectors the committee's
   near-duplicate check already stored (`example_vectors`, same text and model) and embeds only the rest; `hashing`
   (no model: word and word-pair hashing, TF-IDF, a 128-dimension SVD) is for very large stores in a hurry.
3. Texts are split by k-means (scikit-learn's MiniBatchKMeans) into parts of at most `LEAF`, and each part is
   clustered by average-linkage agglomeration on cosine distance up to `threshold`, so a cluster is a set of
   instructions about as close as the threshold says, at 100 or 100,000 of them.
4. Within a cluster, instructions at cosine similarity ≥ `near_dup` (default: the committee's `dedup_threshold`)
   are joined into near-duplicate groups (connected components); the representative of a cluster is the
   instruction closest to its centre.

The result goes to the store (`Store.set_clusters`); how the committee treated each cluster is read from the
verdicts and overrides of now (`lbi.store.clusters`). `lbi curate cluster` runs this, as a background job from the
workbench.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lbi.errors import check_choice
from lbi.models.embed import embed
from lbi.project import Project

METHODS = ("minilm", "hashing")
THRESHOLDS = {"minilm": 0.4, "hashing": 0.6}
"""Default cosine distance up to which instructions join a cluster, per method (hashing vectors are sparser, so
their distances run larger)."""
LEAF = 2000
"""The largest part clustered by agglomeration (its n² distances: 2000 → 32 MB)."""
EMBED_BATCH = 512


@dataclass
class ClusterReport:
    """What a clustering did, and how long each part took (seconds)."""

    examples: int = 0
    texts: int = 0
    reused: int = 0
    embedded: int = 0
    clusters: int = 0
    multi: int = 0
    near_dup_groups: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        return (
            f"{self.examples} examples ({self.texts} distinct instructions; {self.reused} vectors reused, "
            f"{self.embedded} embedded) → {self.clusters} clusters, {self.multi} with more than one example, "
            f"{self.near_dup_groups} groups of near-duplicates"
        )


def normalise(text: str) -> str:
    """Lower case, whitespace collapsed: the text the committee's near-duplicate check embeds too."""
    return " ".join(text.lower().split())


def _minilm_vectors(
    project: Project, texts: list[str], progress: Callable[[int, int], None], report: ClusterReport
) -> np.ndarray:
    model = project.config.models.embedder
    index = {t: k for k, t in enumerate(texts)}
    vectors = np.zeros((len(texts), 0), dtype=np.float32)
    found: dict[int, np.ndarray] = {}
    for row in project.store.connect().execute("SELECT text, vector FROM example_vectors WHERE model = ?", (model,)):
        k = index.get(row[0])
        if k is not None and k not in found:
            found[k] = np.frombuffer(row[1], dtype=np.float32)
    report.reused = len(found)
    missing = [k for k in range(len(texts)) if k not in found]
    dim = next(iter(found.values())).shape[0] if found else 0
    for start in range(0, len(missing), EMBED_BATCH):
        part = missing[start : start + EMBED_BATCH]
        for k, vector in zip(part, embed([texts[k] for k in part], model), strict=True):
            found[k] = vector
            dim = vector.shape[0]
        progress(len(found), len(texts))
    report.embedded = len(missing)
    vectors = np.zeros((len(texts), dim), dtype=np.float32)
    for k, vector in found.items():
        vectors[k] = vector
    return vectors


def _hashing_vectors(texts: list[str]) -> np.ndarray:
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
    from sklearn.preprocessing import normalize

    counts = HashingVectorizer(n_features=2**18, ngram_range=(1, 2), alternate_sign=False, norm=None).transform(texts)
    tfidf = TfidfTransformer(sublinear_tf=True).fit_transform(counts)
    tfidf = tfidf[:, np.unique(tfidf.indices)]  # the hash buckets in use: the SVD's cost grows with the columns
    dims = min(128, len(texts) - 1, tfidf.shape[1] - 1)
    if dims < 2:
        return normalize(tfidf).toarray().astype(np.float32)
    reduced = TruncatedSVD(n_components=dims, random_state=0).fit_transform(tfidf)
    return normalize(reduced).astype(np.float32)


def partition(
    vectors: np.ndarray, indices: np.ndarray | None = None, *, leaf: int = LEAF, seed: int = 0
) -> list[np.ndarray]:
    """Split rows into parts of at most `leaf` with k-means, recursively (a part k-means would not split is cut
    in order)."""
    from sklearn.cluster import MiniBatchKMeans

    indices = np.arange(len(vectors)) if indices is None else indices
    if len(indices) <= leaf:
        return [indices]
    k = max(2, math.ceil(2 * len(indices) / leaf))
    labels = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=1, batch_size=4096, max_iter=50).fit_predict(
        vectors[indices]
    )
    parts = [indices[labels == c] for c in range(k) if (labels == c).any()]
    if len(parts) == 1:  # k-means found no split (identical vectors): cut in order
        return [indices[s : s + leaf] for s in range(0, len(indices), leaf)]
    out: list[np.ndarray] = []
    for part in parts:
        out.extend(partition(vectors, part, leaf=leaf, seed=seed + 1))
    return out


def agglomerate(vectors: np.ndarray, threshold: float) -> np.ndarray:
    """Cluster labels of rows: average linkage on cosine distance, merging while closer than `threshold`."""
    if len(vectors) < 2:
        return np.zeros(len(vectors), dtype=np.int64)
    from sklearn.cluster import AgglomerativeClustering

    model = AgglomerativeClustering(n_clusters=None, distance_threshold=threshold, metric="cosine", linkage="average")
    return model.fit_predict(vectors)


def near_duplicate_groups(vectors: np.ndarray, similarity: float) -> np.ndarray:
    """Group labels of rows: connected components of the pairs at cosine similarity ≥ `similarity`."""
    if len(vectors) < 2:
        return np.zeros(len(vectors), dtype=np.int64)
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    close = (vectors @ vectors.T) >= similarity
    return connected_components(csr_matrix(close), directed=False)[1]


def cluster_texts(
    vectors: np.ndarray, weights: Sequence[int] | np.ndarray, *, threshold: float, near_dup: float, leaf: int = LEAF
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each row (a distinct text; `weights`: how many examples have it): its cluster (0 = the most examples),
    its near-duplicate group (unique across clusters) and its cosine to its cluster's centre."""
    n = len(vectors)
    raw = np.zeros(n, dtype=np.int64)
    next_label = 0
    for part in partition(vectors, leaf=leaf):
        labels = agglomerate(vectors[part], threshold)
        raw[part] = labels + next_label
        next_label += int(labels.max()) + 1 if len(labels) else 0
    weight = np.asarray(weights, dtype=np.int64)
    sizes = np.bincount(raw, weights=weight, minlength=next_label)
    order = sorted(range(next_label), key=lambda c: (-sizes[c], c))
    rank = np.empty(next_label, dtype=np.int64)
    rank[order] = np.arange(next_label)
    clusters = rank[raw]
    groups = np.zeros(n, dtype=np.int64)
    scores = np.zeros(n, dtype=np.float32)
    next_group = 0
    by_cluster = np.argsort(clusters, kind="stable")
    bounds = np.flatnonzero(np.diff(clusters[by_cluster])) + 1
    for members in np.split(by_cluster, bounds):
        if not len(members):
            continue
        centre = (vectors[members] * weight[members, None]).sum(axis=0)
        norm = float(np.linalg.norm(centre))
        scores[members] = vectors[members] @ (centre / norm) if norm else 1.0
        labels = near_duplicate_groups(vectors[members], near_dup)
        groups[members] = labels + next_group
        next_group += int(labels.max()) + 1
    return clusters, groups, scores


def cluster_examples(
    project: Project,
    *,
    method: str = "minilm",
    threshold: float | None = None,
    near_dup: float | None = None,
    run_id: int,
    progress: Callable[[int, int], None] | None = None,
) -> ClusterReport:
    """Cluster every example's instruction and store the clustering as run `run_id`'s (see the module)."""
    check_choice("clustering method", method, METHODS)
    threshold = THRESHOLDS[method] if threshold is None else threshold
    near_dup = project.config.synth.dedup_threshold if near_dup is None else near_dup
    progress = progress or (lambda done, total: None)
    report = ClusterReport()
    started = time.perf_counter()
    rows = project.store.query("SELECT id, instruction FROM examples ORDER BY id")
    report.examples = len(rows)
    texts: list[str] = []
    index: dict[str, int] = {}
    text_of = np.zeros(len(rows), dtype=np.int64)
    for n, row in enumerate(rows):
        text = normalise(row[1])
        k = index.setdefault(text, len(texts))
        if k == len(texts):
            texts.append(text)
        text_of[n] = k
    report.texts = len(texts)
    report.seconds["read"] = time.perf_counter() - started
    if not rows:
        project.store.set_clusters(run_id, [])
        return report
    mark = time.perf_counter()
    vectors = _minilm_vectors(project, texts, progress, report) if method == "minilm" else _hashing_vectors(texts)
    report.seconds["vectors"] = time.perf_counter() - mark
    mark = time.perf_counter()
    weights = np.bincount(text_of, minlength=len(texts))
    clusters, groups, scores = cluster_texts(vectors, weights, threshold=threshold, near_dup=near_dup)
    report.seconds["cluster"] = time.perf_counter() - mark
    mark = time.perf_counter()
    project.store.set_clusters(
        run_id, ((row[0], clusters[k], groups[k], scores[k]) for row, k in zip(rows, text_of.tolist(), strict=True))
    )
    report.seconds["write"] = time.perf_counter() - mark
    per_cluster = np.bincount(clusters[text_of])
    per_group = np.bincount(groups[text_of])
    report.clusters = int((per_cluster > 0).sum())
    report.multi = int((per_cluster > 1).sum())
    report.near_dup_groups = int((per_group > 1).sum())
    report.seconds["total"] = time.perf_counter() - started
    progress(len(texts), len(texts))
    return report


def settings(method: str, threshold: float | None, near_dup: float | None, project: Project) -> dict[str, Any]:
    """The settings a clustering run records (its `config_json`)."""
    return {
        "method": method,
        "threshold": THRESHOLDS[method] if threshold is None else threshold,
        "near_dup": project.config.synth.dedup_threshold if near_dup is None else near_dup,
        "embedder": project.config.models.embedder if method == "minilm" else "hashing",
    }
