"""lbi.curate.clusters: instructions grouped by meaning, near-duplicates grouped, the committee's treatment read
back."""

import numpy as np
import pytest

from lbi.curate.clusters import cluster_examples, cluster_texts, partition
from lbi.project import Project
from lbi.store import clusters
from tests.store.fixtures import judge, trajectory

GENERIC = [f"Click the button on the page {n}" for n in ("now", "again", "once more", "twice")] + [
    "click the button on the page"
] * 2  # a family of generic, copied instructions
SPECIFIC = [
    "Create a milestone named Beta due next Friday",
    "Set the milestone of ticket 12 to Beta",
    "Export the open tickets owned by alice as CSV",
    "Change the priority of ticket 7 to blocker",
    "Attach the crash log to ticket 31",
]


def _examples(project: Project) -> list[int]:
    tid = trajectory(project, n=len(GENERIC) + len(SPECIFIC))
    texts = GENERIC + SPECIFIC
    ids = project.store.add_examples(
        {"trajectory_id": tid, "span_start": k, "span_end": k, "mode": "per-span", "instruction": text}
        for k, text in enumerate(texts)
    )
    for k, example in enumerate(ids):
        judge(project, example, k >= len(GENERIC), True, True)  # the generic family is filtered out
    return ids


@pytest.mark.parametrize("method", ["hashing", "minilm"])
def test_a_family_of_copied_instructions_is_one_cluster_with_its_near_duplicates(project: Project, method: str) -> None:
    ids = _examples(project)
    run = project.store.start_run(f"cluster-{method}", "cluster")
    report = cluster_examples(project, method=method, run_id=run)
    assert (report.examples, report.texts) == (11, 10)  # the two identical ones are clustered once
    top = clusters.summary(project.store, judges=3)[0]
    generic = set(ids[: len(GENERIC)])
    members = clusters.members(project.store, top["cluster"], judges=3)
    assert {m["id"] for m in members} == generic, members
    assert top["size"] == len(GENERIC) and top["kept"] == 0 and top["dropped"] == len(GENERIC)
    assert top["representative"] in generic and top["instruction"].lower().startswith("click the button")
    assert top["near_dup_groups"] >= 1 and members[0]["group_size"] >= 2
    copies = [m for m in members if m["instruction"] == "click the button on the page"]
    assert len({m["group_id"] for m in copies}) == 1  # identical texts: one near-duplicate group
    assert all(clusters.of_example(project.store, i) is not None for i in ids)
    assert (latest := clusters.latest(project.store)) and latest["examples"] == 11


def test_minilm_reuses_the_vectors_the_committee_stored(project: Project) -> None:
    from lbi.synth.judge import find_duplicates

    _examples(project)
    find_duplicates(project)
    before = project.store.counts()["example_vectors"]
    report = cluster_examples(project, method="minilm", run_id=project.store.start_run("c", "cluster"))
    assert (report.reused, report.embedded) == (10, 0)
    assert project.store.counts()["example_vectors"] == before  # the clustering writes none


def test_a_newer_clustering_replaces_the_older_one(project: Project) -> None:
    _examples(project)
    first = project.store.start_run("c1", "cluster")
    cluster_examples(project, method="hashing", run_id=first)
    second = project.store.start_run("c2", "cluster")
    cluster_examples(project, method="hashing", run_id=second)
    assert project.store.query("SELECT DISTINCT run_id FROM clusters")[0][0] == second
    assert (latest := clusters.latest(project.store)) and latest["id"] == second


def test_large_sets_are_split_before_agglomeration() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(6, 16))
    vectors = np.repeat(centres, 50, axis=0) + rng.normal(scale=0.01, size=(300, 16))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    parts = partition(vectors, leaf=60)
    assert all(len(p) <= 60 for p in parts) and sorted(np.concatenate(parts).tolist()) == list(range(300))
    labels, groups, scores = cluster_texts(vectors, [1] * 300, threshold=0.2, near_dup=0.99, leaf=60)
    assert len(set(labels.tolist())) >= 6  # never one cluster across far-apart families
    for c in range(6):  # each family stays within clusters of its own
        assert (
            len(
                {int(x) for x in labels[c * 50 : (c + 1) * 50]}
                & {int(x) for x in np.delete(labels, range(c * 50, (c + 1) * 50))}
            )
            == 0
        )
    assert scores.min() > 0.9
