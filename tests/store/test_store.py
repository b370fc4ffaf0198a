import multiprocessing
import sqlite3
import time
from pathlib import Path

import pytest

from lbi.store import committee, read
from lbi.store.db import Store, StoreError
from lbi.store.schema import MIGRATIONS, SCHEMA_VERSION, TABLES


def _filled(store: Store) -> dict[str, int]:
    run = store.start_run("r1", "synthesize", {"model": "fake"})
    store.add_document(
        {"id": "d1", "source": "a.md", "title": "A", "format": "markdown", "text": "hello"},
        [{"id": "c1", "doc_id": "d1", "ordinal": 0, "title": "A", "text": "hello", "start_char": 0, "end_char": 5}],
    )
    store.add_tasks([{"id": "t1", "instruction": "open the wiki", "env": "trac", "chunk_id": "c1", "run_id": run}])
    tid, state = store.begin_trajectory("r1/t1", run_id=run, task_id="t1", policy="llm", env="trac")
    assert state == "running"
    for i in range(3):
        store.add_step(
            tid,
            i,
            observation=f"obs {i}",
            action=f"click('{i}')",
            url="http://x/wiki",
            state_signature="/wiki|Wiki",
            latency_ms=12.5,
        )
    store.finish_trajectory(tid, status="done", answer="ok")
    ex = store.add_examples(
        [
            {
                "trajectory_id": tid,
                "span_start": 0,
                "span_end": 2,
                "instruction": "do it",
                "mode": "batched",
                "run_id": run,
            },
            {
                "trajectory_id": tid,
                "span_start": 1,
                "span_end": 2,
                "instruction": "do it!",
                "mode": "batched",
                "run_id": run,
            },
        ]
    )
    store.set_similar([(ex[1], ex[0], 0.99)])
    store.set_verdict(ex[0], "j1", True, "fine")
    store.add_override(ex[0], "drop", who="ann", note="too vague")
    store.log_llm_call(role="agent", model="fake", prompt_tokens=10, completion_tokens=2)
    store.add_evaluation(run_id=run, task_id="t1", mode="baseline", success=1)
    store.add_failure("backward", "bad json", raw="{", run_id=run)
    store.set_train_run(run, base_model="tiny", examples_json=ex, records=1)
    store.add_train_log(run, [{"step": 1, "loss": 2.0}])
    store.set_leak_checks(
        "example",
        [
            {
                "item": ex[0],
                "digest": "d1",
                "flagged": True,
                "hits": [{"heldout": "h-1", "measure": "ngram", "score": 0.9}],
            }
        ],
    )
    store.add_leak_override("example", str(ex[0]), "allow", who="ann", note="a different database")
    store.set_clusters(run, [(ex[0], 0, 0, 0.9), (ex[1], 0, 0, 0.8)])
    assert store.counts()["similar_examples"] == 1
    store.edit_example(ex[0], "do it better", who="ann")
    return {"run": run, "trajectory": tid, "example": ex[0]}


def test_round_trip_of_every_table(tmp_path: Path) -> None:
    store = Store(tmp_path)
    ids = _filled(store)
    counts = store.counts()
    assert set(counts) == set(TABLES)
    assert all(counts[t] >= 1 for t in TABLES if t not in ("similar_examples", "example_vectors")), counts
    steps = store.query(
        "SELECT idx, observation, action FROM steps WHERE trajectory_id=? ORDER BY idx", (ids["trajectory"],)
    )
    assert [tuple(r) for r in steps] == [(i, f"obs {i}", f"click('{i}')") for i in range(3)]
    edit = store.query("SELECT old_instruction, new_instruction FROM example_edits")[0]
    assert tuple(edit) == ("do it", "do it better")
    assert store.query("SELECT instruction FROM examples")[0][0] == "do it better"
    # an edited instruction is no longer known to duplicate anything
    assert store.counts()["similar_examples"] == 0


def test_wal_mode_and_version(tmp_path: Path) -> None:
    store = Store(tmp_path)
    assert store.version == SCHEMA_VERSION
    assert store.query("PRAGMA journal_mode")[0][0] == "wal"


def test_migration_from_first_version_keeps_data(tmp_path: Path) -> None:
    old = Store(tmp_path, migrate=False)
    old.migrate(target=1)
    assert old.version == 1
    old.start_run("before", "rollout")
    with pytest.raises(sqlite3.OperationalError):
        old.query("SELECT * FROM failures")
    old.close()
    new = Store(tmp_path)
    assert new.version == len(MIGRATIONS)
    assert new.query("SELECT name FROM runs")[0][0] == "before"
    new.add_failure("judge", "boom")
    assert new.counts()["failures"] == 1


def test_newer_database_is_refused(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.connect().execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    store.close()
    with pytest.raises(StoreError, match="upgrade lbi"):
        Store(tmp_path)


def test_resume_semantics_of_trajectories(tmp_path: Path) -> None:
    store = Store(tmp_path)
    tid, state = store.begin_trajectory("run/a", policy="llm", env="web")
    store.add_step(tid, 0, observation="half done")
    # the process died here: reopening restarts the unfinished trajectory clean
    tid2, state2 = store.begin_trajectory("run/a", policy="llm", env="web")
    assert (tid2, state2) == (tid, "running")
    assert store.counts()["steps"] == 0
    store.finish_trajectory(tid, status="done")
    assert store.begin_trajectory("run/a", policy="llm", env="web") == (tid, "done")
    assert store.counts()["trajectories"] == 1


def test_examples_are_not_duplicated(tmp_path: Path) -> None:
    store = Store(tmp_path)
    tid, _ = store.begin_trajectory("k", policy="explore", env="web")
    ex = {"trajectory_id": tid, "span_start": 0, "span_end": 1, "instruction": "x", "mode": "per-span"}
    assert len(store.add_examples([ex])) == 1
    assert store.add_examples([ex]) == []
    assert store.counts()["examples"] == 1


def test_kept_follows_policy_and_latest_override(tmp_path: Path) -> None:
    store = Store(tmp_path)
    tid, _ = store.begin_trajectory("k", policy="llm", env="web")
    ids = store.add_examples(
        [
            {"trajectory_id": tid, "span_start": 0, "span_end": j, "instruction": f"i{j}", "mode": "batched"}
            for j in range(3)
        ]
    )
    votes = {ids[0]: (1, 1, 1), ids[1]: (1, 1, 0), ids[2]: (1, 0, 0)}
    for ex, vs in votes.items():
        for judge, v in zip(("a", "b", "c"), vs, strict=True):
            store.set_verdict(ex, judge, bool(v), "r")
    assert [committee.kept_count(store, p) for p in ("strict", "majority", "relaxed")] == [1, 2, 3]
    assert committee.kept_by_policy(store) == {"strict": 1, "majority": 2, "relaxed": 3}
    store.add_override(ids[0], "drop", who="me")
    assert committee.kept_count(store, "strict") == 0
    store.add_override(ids[0], "keep", who="me")
    store.add_override(ids[2], "keep", who="me")
    assert committee.kept_count(store, "strict") == 2
    with pytest.raises(ValueError):
        store.add_override(ids[0], "maybe", who="me")
    # a missing verdict counts as "no" when the committee size is known
    assert committee.kept_count(store, "relaxed", judges=3) == 3
    assert committee.kept_count(store, "majority", judges=4) == 2  # ids[0], ids[2] by override


def test_near_duplicates_of_a_kept_example_are_dropped(tmp_path: Path) -> None:
    store = Store(tmp_path)
    tid, _ = store.begin_trajectory("k", policy="llm", env="web")
    a, b, c = store.add_examples(
        [
            {"trajectory_id": tid, "span_start": 0, "span_end": j, "instruction": "same", "mode": "batched"}
            for j in range(3)
        ]
    )
    for ex in (a, b, c):
        store.set_verdict(ex, "j", True, "ok")
    store.set_similar([(b, a, 0.97), (c, a, 0.95)])
    assert committee.kept_ids(store) == [a]
    store.add_override(a, "drop", who="me")  # the original dropped: its duplicates no longer are
    assert committee.kept_ids(store) == [b, c]
    store.add_override(c, "keep", who="me")
    assert committee.kept_ids(store) == [b, c]
    store.set_verdict(b, "j", False, "no")  # b no longer passes: c is still kept by its override
    for policy in committee.POLICIES:
        assert committee.kept_by_policy(store, 1)[policy] == committee.kept_count(store, policy, 1) == 1


def _hold_write_lock(path: str, seconds: float, ready) -> None:
    store = Store(Path(path))
    with store.transaction() as conn:
        for i in range(200):
            conn.execute(
                "INSERT INTO runs (name, kind, created_at, updated_at) VALUES (?, 'x', 'now', 'now')", (f"w{i}",)
            )
        ready.set()
        time.sleep(seconds)


def test_reader_reads_while_a_writer_holds_the_lock(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.start_run("existing", "rollout")
    ready = multiprocessing.Event()
    writer = multiprocessing.Process(target=_hold_write_lock, args=(str(tmp_path), 5.0, ready))
    writer.start()
    try:
        assert ready.wait(30)
        started = time.monotonic()
        reader = Store(tmp_path)
        assert reader.counts()["runs"] == 1  # sees the committed state, not the open transaction
        assert time.monotonic() - started < 4.0  # and does not wait for the 5 s writer
        # a second writer waits for the lock instead of failing with "database is locked"
        reader.start_run("second", "rollout")
    finally:
        writer.join(30)
    assert Store(tmp_path).counts()["runs"] == 202


def test_secrets_never_reach_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-verysecretvalue-1234567890")
    store = Store(tmp_path)
    key = "sk-verysecretvalue-1234567890"
    store.add_failure("llm", f"auth failed with key {key}", raw=f"Bearer {key}")
    store.close()
    assert b"verysecretvalue" not in (tmp_path / "lbi.db").read_bytes()
    for extra in tmp_path.glob("lbi.db-*"):
        assert b"verysecretvalue" not in extra.read_bytes()


def test_a_run_whose_process_is_gone_shows_as_interrupted(tmp_path: Path) -> None:
    import subprocess

    store = Store(tmp_path)
    gone = subprocess.Popen(["true"])
    gone.wait()
    store.start_run("killed", "rollout", pid=gone.pid)
    store.start_run("alive", "rollout")
    status = {r["name"]: r["status"] for r in read.recent_runs(store)}
    assert status == {"killed": "interrupted", "alive": "running"}
    assert [r["name"] for r in read.active_runs(store)] == ["alive"]  # the same rule for runs in progress
    assert read.active_runs(store, "ali") and not read.active_runs(store, "killed")


def test_a_trajectory_whose_run_is_gone_shows_as_interrupted_not_live(tmp_path: Path) -> None:
    import subprocess

    store = Store(tmp_path)
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = store.start_run("killed", "rollout", pid=gone.pid)
    killed = store.begin_trajectory("k/0", run_id=dead, env="sql", policy="llm")[0]
    alive = store.begin_trajectory("a/0", run_id=store.start_run("alive", "rollout"), env="sql", policy="llm")[0]
    ended = store.start_run("ended", "rollout")
    left = store.begin_trajectory("e/0", run_id=ended, env="sql", policy="llm")[0]  # its run ended without finishing it
    store.update_run(ended, status="done")
    assert {t["id"]: t["status"] for t in read.trajectories(store)} == {
        killed: "interrupted",
        alive: "running",
        left: "interrupted",
    }
    assert [t["id"] for t in read.trajectories(store, status="running")] == [alive]
    assert [t["id"] for t in read.trajectories(store, status="interrupted")] == [left, killed]
    one = read.trajectory(store, killed)
    assert one is not None and one["status"] == "interrupted" and "run_pid" not in one
    assert read.trajectory(store, alive)["status"] == "running"  # type: ignore[index]
