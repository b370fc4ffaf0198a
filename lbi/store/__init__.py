"""The store: one SQLite database per project (`db.Store`, the only writer), its schema and migrations
(`schema`), and the read side the CLI, the pages and reports share (`read`, `spans` for a trajectory's span grid,
`evals` for held-out results and each arm's figures, `committee` for what the committee decided, `leaks` for what
the leakage check keeps out, `queues` for review queues and bulk decisions, `clusters` for clusters of
instructions, `lineage` for where an example came from and went)."""

from lbi.store.db import DB_NAME, Store, StoreError

__all__ = ["DB_NAME", "Store", "StoreError"]
