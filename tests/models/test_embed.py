"""The packaged sentence embedder: real vectors, near-duplicates, loading in the background."""

import numpy as np
import pytest

from lbi.models.embed import EmbedderError, embed, novel_mask, preload


def test_vectors_are_normalised_and_close_for_close_meanings() -> None:
    a, b, c = embed(
        [
            "Change the priority of ticket 7 to major",
            "Set ticket #7's priority to major",
            "Delete the wiki page SandBox",
        ]
    )
    assert np.allclose([np.linalg.norm(v) for v in (a, b, c)], 1.0, atol=1e-4)
    assert float(a @ b) > float(a @ c) + 0.2


def test_novel_mask_drops_near_duplicates_of_existing_and_earlier_candidates() -> None:
    mask = novel_mask(
        ["Open ticket 7", "open ticket 7.", "Create a milestone named v2"], ["Show the timeline"], threshold=0.9
    )
    assert mask == [True, False, True]


def test_preload_loads_in_the_background_and_errors_surface_where_embedding_is_needed() -> None:
    thread = preload()
    thread.join(timeout=120)
    assert not thread.is_alive()
    assert embed(["hello"]).shape == (1, 384)
    bad = preload("no-such-embedder")  # the background thread swallows the error ...
    bad.join(timeout=10)
    with pytest.raises(EmbedderError, match="not available offline"):  # ... and embed() says what to fix
        embed(["hello"], "no-such-embedder")
