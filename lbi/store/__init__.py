"""The store: one SQLite database per project (`db.Store`, the only writer), its schema and migrations
(`schema`), and the read side the CLI, the pages and reports share (`read`, and `committee` for what
the committee decided)."""

from lbi.store.db import DB_NAME, Store, StoreError

__all__ = ["DB_NAME", "Store", "StoreError"]
