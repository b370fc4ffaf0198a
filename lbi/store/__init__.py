"""The store: one SQLite database per project (`db.Store`, the only writer), its schema and migrations
(`schema`), and the read side the CLI, the pages and reports share (`read`, `committee` for what
the committee decided, and `leaks` for what the leakage check keeps out)."""

from lbi.store.db import DB_NAME, Store, StoreError

__all__ = ["DB_NAME", "Store", "StoreError"]
