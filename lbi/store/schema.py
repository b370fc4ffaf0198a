"""The store's schema as an ordered list of migrations.

`PRAGMA user_version` holds how many migrations a database has had; `Store` applies the rest
on open. Never edit a migration that has shipped: append a new one.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: the initial schema.
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        config_json TEXT NOT NULL DEFAULT '{}',
        progress_done INTEGER NOT NULL DEFAULT 0,
        progress_total INTEGER NOT NULL DEFAULT 0,
        message TEXT,
        pid INTEGER,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE documents (
        id TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        title TEXT,
        format TEXT,
        text TEXT NOT NULL,
        meta_json TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL
    );
    CREATE TABLE chunks (
        id TEXT PRIMARY KEY,
        doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        ordinal INTEGER NOT NULL,
        title TEXT,
        text TEXT NOT NULL,
        start_char INTEGER,
        end_char INTEGER
    );
    CREATE INDEX chunks_doc ON chunks(doc_id, ordinal);
    CREATE TABLE tasks (
        id TEXT PRIMARY KEY,
        instruction TEXT NOT NULL,
        env TEXT NOT NULL,
        split TEXT NOT NULL DEFAULT 'synthetic' CHECK (split IN ('synthetic', 'heldout')),
        chunk_id TEXT REFERENCES chunks(id) ON DELETE SET NULL,
        run_id INTEGER REFERENCES runs(id),
        spec_json TEXT NOT NULL DEFAULT '{}',
        model TEXT,
        created_at TEXT NOT NULL
    );
    CREATE INDEX tasks_split ON tasks(split);
    CREATE TABLE trajectories (
        id INTEGER PRIMARY KEY,
        run_id INTEGER REFERENCES runs(id),
        key TEXT NOT NULL UNIQUE,
        task_id TEXT REFERENCES tasks(id) ON DELETE SET NULL,
        instruction TEXT,
        policy TEXT NOT NULL,
        env TEXT NOT NULL,
        model TEXT,
        status TEXT NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed')),
        error TEXT,
        answer TEXT,
        config_json TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL,
        finished_at TEXT
    );
    CREATE INDEX trajectories_run ON trajectories(run_id, status);
    CREATE TABLE steps (
        id INTEGER PRIMARY KEY,
        trajectory_id INTEGER NOT NULL REFERENCES trajectories(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        observation TEXT,
        screenshot TEXT,
        action TEXT,
        reasoning TEXT,
        url TEXT,
        state_signature TEXT,
        error TEXT,
        latency_ms REAL,
        created_at TEXT NOT NULL,
        UNIQUE (trajectory_id, idx)
    );
    CREATE INDEX steps_signature ON steps(state_signature);
    CREATE TABLE examples (
        id INTEGER PRIMARY KEY,
        trajectory_id INTEGER NOT NULL REFERENCES trajectories(id) ON DELETE CASCADE,
        span_start INTEGER NOT NULL,
        span_end INTEGER NOT NULL,
        instruction TEXT NOT NULL,
        mode TEXT NOT NULL,
        model TEXT,
        run_id INTEGER REFERENCES runs(id),
        created_at TEXT NOT NULL,
        UNIQUE (trajectory_id, span_start, span_end, mode),
        CHECK (span_start <= span_end)
    );
    CREATE TABLE example_edits (
        id INTEGER PRIMARY KEY,
        example_id INTEGER NOT NULL REFERENCES examples(id) ON DELETE CASCADE,
        old_instruction TEXT NOT NULL,
        new_instruction TEXT NOT NULL,
        who TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE TABLE verdicts (
        id INTEGER PRIMARY KEY,
        example_id INTEGER NOT NULL REFERENCES examples(id) ON DELETE CASCADE,
        judge TEXT NOT NULL,
        verdict INTEGER NOT NULL CHECK (verdict IN (0, 1)),
        reason TEXT,
        model TEXT,
        run_id INTEGER REFERENCES runs(id),
        created_at TEXT NOT NULL,
        UNIQUE (example_id, judge)
    );
    CREATE TABLE overrides (
        id INTEGER PRIMARY KEY,
        example_id INTEGER NOT NULL REFERENCES examples(id) ON DELETE CASCADE,
        verdict TEXT NOT NULL CHECK (verdict IN ('keep', 'drop')),
        note TEXT,
        who TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE INDEX overrides_example ON overrides(example_id, id);
    CREATE TABLE llm_calls (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        run_id INTEGER,
        role TEXT NOT NULL,
        purpose TEXT,
        model TEXT NOT NULL,
        prompt_tokens INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0,
        cost REAL,
        latency_ms REAL NOT NULL DEFAULT 0,
        cache_hit INTEGER NOT NULL DEFAULT 0,
        ok INTEGER NOT NULL DEFAULT 1,
        error TEXT
    );
    CREATE INDEX llm_calls_role ON llm_calls(role, at);
    CREATE TABLE evaluations (
        id INTEGER PRIMARY KEY,
        run_id INTEGER REFERENCES runs(id),
        task_id TEXT NOT NULL,
        mode TEXT NOT NULL,
        success INTEGER,
        detail TEXT,
        error TEXT,
        n_steps INTEGER,
        trajectory_id INTEGER REFERENCES trajectories(id) ON DELETE SET NULL,
        model TEXT,
        created_at TEXT NOT NULL,
        UNIQUE (run_id, task_id, mode)
    );
    """,
    # 2: failed items (malformed model output etc.) kept with their raw text.
    """
    CREATE TABLE failures (
        id INTEGER PRIMARY KEY,
        run_id INTEGER REFERENCES runs(id),
        stage TEXT NOT NULL,
        item TEXT,
        error TEXT NOT NULL,
        raw TEXT,
        created_at TEXT NOT NULL
    );
    CREATE INDEX failures_run ON failures(run_id, stage);
    """,
    # 3: near-duplicate pairs among examples (other_id < example_id), found by the committee filter.
    """
    CREATE TABLE similar_examples (
        example_id INTEGER NOT NULL REFERENCES examples(id) ON DELETE CASCADE,
        other_id INTEGER NOT NULL REFERENCES examples(id) ON DELETE CASCADE,
        similarity REAL NOT NULL,
        PRIMARY KEY (example_id, other_id),
        CHECK (other_id < example_id)
    );
    CREATE INDEX similar_other ON similar_examples(other_id);
    """,
    # 4: the state a trajectory ended in (the observation after its last action).
    """
    ALTER TABLE trajectories ADD COLUMN final_observation TEXT;
    ALTER TABLE trajectories ADD COLUMN final_url TEXT;
    ALTER TABLE trajectories ADD COLUMN final_screenshot TEXT;
    """,
    # 5: instruction embeddings, so near-duplicate detection only embeds new or edited examples.
    """
    CREATE TABLE example_vectors (
        example_id INTEGER PRIMARY KEY REFERENCES examples(id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        text TEXT NOT NULL,
        vector BLOB NOT NULL
    );
    """,
    # 6: the agent's turn at each step (its system message, the observation as shown), so an export record of
    # a step is built by the same function as the prompt the agent had (`lbi.prompts.messages.agent_turn`).
    """
    ALTER TABLE steps ADD COLUMN prompt_system TEXT;
    ALTER TABLE steps ADD COLUMN prompt_observation TEXT;
    """,
    # 7: training runs (`lbi train`): what was trained on, with what, into which served model; the loss curve.
    """
    CREATE TABLE train_runs (
        run_id INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
        base_model TEXT NOT NULL,
        model TEXT,
        examples_json TEXT NOT NULL DEFAULT '[]',
        examples_hash TEXT NOT NULL DEFAULT '',
        records INTEGER NOT NULL DEFAULT 0,
        tokens INTEGER NOT NULL DEFAULT 0,
        config_json TEXT NOT NULL DEFAULT '{}',
        wall_s REAL,
        tokens_per_s REAL,
        peak_rss_mb REAL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE train_log (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        step INTEGER NOT NULL,
        epoch REAL,
        loss REAL,
        learning_rate REAL,
        tokens INTEGER,
        seconds REAL,
        PRIMARY KEY (run_id, step)
    );
    """,
    # 8: model calls by run (the Evaluation page's cost per arm reads a run's calls; without it every look
    # scanned the whole log).
    """
    CREATE INDEX llm_calls_run ON llm_calls(run_id, at);
    """,
    # 9: the leakage check on content (`lbi.synth.leakage`): one row per checked item (a synthesized example,
    # a synthetic task, a doc chunk) with the digest of what it was checked as, whether it resembles a held-out
    # task and how (`hits_json`); and people's decisions on flagged items (the newest per item wins).
    """
    CREATE TABLE leak_checks (
        kind TEXT NOT NULL CHECK (kind IN ('example', 'task', 'chunk')),
        item TEXT NOT NULL,
        digest TEXT NOT NULL,
        flagged INTEGER NOT NULL CHECK (flagged IN (0, 1)),
        hits_json TEXT NOT NULL DEFAULT '[]',
        checked_at TEXT NOT NULL,
        PRIMARY KEY (kind, item)
    );
    CREATE TABLE leak_overrides (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('example', 'task', 'chunk')),
        item TEXT NOT NULL,
        verdict TEXT NOT NULL CHECK (verdict IN ('allow', 'block')),
        note TEXT,
        who TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE INDEX leak_overrides_item ON leak_overrides(kind, item, id);
    """,
    # 10: curation at scale. An override may belong to a batch (a bulk decision, undone as one) and may be undone
    # (kept for the record, no longer counted); clusters of instructions (`lbi curate cluster`), one row per
    # example of a clustering run: its cluster, its group of near-identical instructions, its closeness to the
    # cluster's centre.
    """
    ALTER TABLE overrides ADD COLUMN batch TEXT;
    ALTER TABLE overrides ADD COLUMN undone_at TEXT;
    ALTER TABLE overrides ADD COLUMN undone_by TEXT;
    CREATE INDEX overrides_batch ON overrides(batch);
    CREATE TABLE clusters (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        example_id INTEGER NOT NULL REFERENCES examples(id) ON DELETE CASCADE,
        cluster INTEGER NOT NULL,
        near_dup INTEGER NOT NULL,
        score REAL NOT NULL DEFAULT 0,
        PRIMARY KEY (run_id, example_id)
    );
    CREATE INDEX clusters_cluster ON clusters(cluster, score);
    CREATE INDEX clusters_example ON clusters(example_id);
    CREATE INDEX clusters_near_dup ON clusters(near_dup);
    """,
    # 11: a person's leak decision may be undone (the Review page's Undo): kept for the record, no longer counted,
    # so the item's previous decision (or the check's flag) decides again.
    """
    ALTER TABLE leak_overrides ADD COLUMN undone_at TEXT;
    ALTER TABLE leak_overrides ADD COLUMN undone_by TEXT;
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)

TABLES = (
    "runs",
    "documents",
    "chunks",
    "tasks",
    "trajectories",
    "steps",
    "examples",
    "example_edits",
    "verdicts",
    "overrides",
    "llm_calls",
    "evaluations",
    "failures",
    "similar_examples",
    "example_vectors",
    "train_runs",
    "train_log",
    "leak_checks",
    "leak_overrides",
    "clusters",
)
