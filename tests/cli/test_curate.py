"""`lbi curate ...` as a user runs it: a bulk decision previewed then applied and undone, a lineage, a clustering."""

import re
from pathlib import Path

from lbi.project import open_project
from tests.cli.test_cli import run
from tests.store.fixtures import examples, judge, trajectory


def test_decide_undo_lineage_and_cluster(tmp_path: Path) -> None:
    proj = tmp_path / "p"
    assert run("init", str(proj), "--model", "fake").returncode == 0
    project = open_project(proj)
    ids = list(examples(project, trajectory(project)).values())
    for example in ids:
        judge(project, example, True, False, True)
    project.store.close()
    preview = run("curate", "decide", "keep", "--search", "row 0", "--note", "fine", "-p", str(proj))
    assert preview.returncode == 0, preview.stderr
    assert "Keep 2 examples: 2 change" in preview.stdout and "add --yes" in preview.stdout
    assert project.store.query("SELECT COUNT(*) FROM overrides")[0][0] == 0
    applied = run(
        "curate", "decide", "keep", "--search", "row 0", "--note", "fine", "--who", "ana", "--yes", "-p", str(proj)
    )
    assert (found := re.search(r"as batch (\S+) ", applied.stdout)), applied.stdout
    batch = found.group(1)
    rows = project.store.query("SELECT example_id, who, note FROM overrides WHERE batch = ?", (batch,))
    assert sorted(tuple(r) for r in rows) == [(ids[0], "ana", "fine"), (ids[1], "ana", "fine")]
    lineage = run("curate", "lineage", str(ids[0]), "-p", str(proj))
    assert lineage.returncode == 0 and "keep by ana" in lineage.stdout and "trajectory" in lineage.stdout
    undo = run("curate", "undo", batch, "-p", str(proj))
    assert "Undid 2 overrides" in undo.stdout
    assert project.store.query("SELECT COUNT(*) FROM overrides WHERE undone_at IS NULL")[0][0] == 0
    clustered = run("curate", "cluster", "--method", "hashing", "-p", str(proj))
    assert clustered.returncode == 0, clustered.stderr
    assert "4 examples (4 distinct instructions" in clustered.stdout.replace("\n", " ")
    assert project.store.counts()["clusters"] == 4
    missing = run("curate", "lineage", "999", "-p", str(proj))
    assert missing.returncode == 2 and "no example 999" in missing.stderr
