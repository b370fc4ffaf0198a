"""Training runs in the store: the record of what was trained, and a loss curve that a resume rewrites."""

from __future__ import annotations

from lbi.project import Project
from lbi.store import read


def test_train_run_record_and_loss_curve(project: Project) -> None:
    store = project.store
    run_id = store.start_run("sft-1", "train", {})
    store.set_train_run(run_id, base_model="tiny", examples_json=[3, 1], examples_hash="abc", records=2)
    store.add_train_log(run_id, [{"step": 1, "loss": 2.5, "tokens": 100}, {"step": 2, "loss": 2.0, "tokens": 200}])
    store.add_train_log(run_id, [{"step": 2, "loss": 1.9, "tokens": 210}])  # logged again after a resume
    store.set_train_run(run_id, base_model="tiny", model="local/sft-1", wall_s=12.5)
    (row,) = read.train_runs(store)
    assert (row["name"], row["base_model"], row["model"], row["examples"], row["records"]) == (
        "sft-1",
        "tiny",
        "local/sft-1",
        [3, 1],
        2,
    )
    assert row["wall_s"] == 12.5 and row["status"] == "running"
    assert [(p["step"], p["loss"], p["tokens"]) for p in read.train_log(store, run_id)] == [
        (1, 2.5, 100),
        (2, 1.9, 210),
    ]
